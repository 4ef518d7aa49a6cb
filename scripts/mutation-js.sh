#!/usr/bin/env bash
# Mutation testing of the page's decision module, web/metadata.js, with StrykerJS over the Node tier (tests/js/):
# each mutant is the module with one change (a comparison flipped, a branch dropped, a constant changed), and the
# Node tests must fail on it. Not in the README's test command (minutes, and its own npm install).
#
#   bash scripts/mutation-js.sh       # after bash scripts/setup.sh --test; report: reports/mutation/metadata.json
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --prefix tools/stryker --no-audit --no-fund --loglevel=error  # pinned in tools/stryker/package-lock.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The Node tests' generated inputs, from the shipped metadata.json: what Python tells a person, what
# Python's checker says of each malformed file, and the clinical vector Python builds for each form.
.venv/bin/python -m trainer.answers "$PWD/web/model/metadata.json" --out "$work/answers.json"
.venv/bin/python tests/contract_cases.py "$PWD/web/model/metadata.json" "$work/contract.json"
.venv/bin/python tests/clinical_cases.py "$work/clinical.json"
SKINLENS_GOLDEN_ANSWERS="$work/answers.json" SKINLENS_CONTRACT_CASES="$work/contract.json" \
  SKINLENS_CLINICAL_CASES="$work/clinical.json" \
  tools/stryker/node_modules/.bin/stryker run tools/stryker/stryker.config.json
