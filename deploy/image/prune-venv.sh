#!/bin/sh
# prune-venv VENV: drop what a deployed daemon never loads, before the venv is copied into a
# runtime image (a later `rm` would leave the bytes in an earlier layer). Kept: everything
# odibi-stream imports, including pyarrow's dataset/parquet/acero/substrait libraries.
set -eu
venv=$1
sp=$(echo "$venv"/lib/python3*/site-packages)
# test suites, C/C++/Cython sources and headers
find "$sp" -depth -type d \( -name tests -o -name include \) \
  \( -path '*/pandas/*' -o -path '*/numpy/*' -o -path '*/pyarrow/*' \) \
  -exec rm -rf {} + 2>/dev/null || true
find "$sp" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.h' -o -name '*.hpp' \
  -o -name '*.cc' -o -name '*.cpp' -o -name '*.c' \) -delete
rm -rf "$sp"/pyarrow/src
# pyarrow's Flight RPC and S3 filesystem: separate libraries nothing here links or imports
# (delta-rs brings its own object store); `import pyarrow.flight` fails in the image, by design.
rm -f "$sp"/pyarrow/libarrow_flight.so* "$sp"/pyarrow/_flight.*.so \
      "$sp"/pyarrow/libarrow_s3.so* "$sp"/pyarrow/_s3fs.*.so
# wheels cannot hold symlinks: libarrow_python is shipped three times; keep one and link the rest
for f in "$sp"/pyarrow/libarrow_python.so "$sp"/pyarrow/libarrow_python.so.*.*.*; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  target=$(ls "$sp"/pyarrow/libarrow_python.so.[0-9]* | grep -E 'so\.[0-9]+$' | head -1)
  [ -n "$target" ] && [ "$f" != "$target" ] && ln -sf "$(basename "$target")" "$f"
done
# PySpark's docs, examples and R bindings
rm -rf "$sp"/pyspark/examples "$sp"/pyspark/data "$sp"/pyspark/licenses "$sp"/pyspark/R 2>/dev/null || true
# Native libraries are NOT stripped: auditwheel/patchelf-repaired wheels (numpy's OpenBLAS)
# break under `strip` ("ELF load command address/offset not page-aligned").
# installers: the image installs nothing at run time
"$venv"/bin/python -m pip uninstall -y -q pip setuptools wheel 2>/dev/null || true
# bytecode of removed modules; the rest is compiled once here (the root filesystem is read-only)
find "$sp" -type d -name __pycache__ -exec rm -rf {} + 
"$venv"/bin/python -m compileall -q -j 0 "$sp" >/dev/null 2>&1 || true
