#!/usr/bin/env bash
# Regenerates model/testdata/hf_transformers on a machine with transformers (the accelerator
# machine): writes a tar of the directory into $OUT.
set -eu
rm -rf /tmp/hf_fixture
PYTHONUNBUFFERED=1 python3 model/testdata/make_hf_transformers_fixture.py \
  --vocab model/testdata/hf_transformers_vocab.txt --out /tmp/hf_fixture
# vocab.txt comes back too; the repository keeps it as testdata/hf_transformers_vocab.txt.
tar -C /tmp -cf "$OUT/hf_fixture.tar" hf_fixture
