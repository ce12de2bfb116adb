"""A copy of onnxruntime that takes its AVX2 kernels on a CPU with AVX-512, to time those kernels here.

    python bench/force_avx2.py /tmp/ort-avx2
    PYTHONPATH=/tmp/ort-avx2 python bench/lm.py

onnxruntime's kernels (MLAS) are chosen once, from ``CPUID`` and from the ``XCR0`` register, which says
what vector state the operating system saves: without the AVX-512 bits (5-7) MLAS uses the AVX2 / FMA
kernels that a CPU without AVX-512 gets. This copies the installed ``onnxruntime`` package into the
folder given and, in its ``libonnxruntime.so``, replaces every ``xgetbv`` (``0f 01 d0``) with
``push 7; pop rax`` (``6a 07 58``, the same three bytes long): ``XCR0`` reads as 7, x87 + SSE + AVX.

llama.cpp, for the same comparison, is built with AVX-512 off (llama-cpp-python compiles it; about
4 minutes on 2 cores)::

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF" \\
      pip install --no-deps --no-binary llama-cpp-python --target /tmp/llama-avx2 llama-cpp-python
    PYTHONPATH=/tmp/ort-avx2:/tmp/llama-avx2 python bench/lm.py

A measurement aid, never for the app: the kernels run on this machine's memory and caches, so the
figures show what the AVX2 kernels cost against each other, not how fast a real AVX2-only CPU is.
Needs ``objdump`` and ``readelf`` (Debian's binutils). Raises ``SystemExit`` with a sentence when the
library has no ``xgetbv`` to patch or a byte is not where the disassembly says.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

XGETBV = bytes.fromhex("0f01d0")
XCR0_IS_7 = bytes.fromhex("6a0758")  # push 7; pop rax


def xgetbv_addresses(library: Path) -> list[int]:
    """Virtual addresses of every ``xgetbv`` instruction in ``library``, from ``objdump -d``."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True,
                         check=True).stdout
    return [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\s+xgetbv\s*$", out, re.MULTILINE)]


def file_offset(library: Path, address: int) -> int:
    """The file offset of virtual ``address``, from the ``LOAD`` segments that ``readelf -lW`` lists."""
    out = subprocess.run(["readelf", "-lW", str(library)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"]:
            offset, vaddr, filesz = int(fields[1], 16), int(fields[2], 16), int(fields[4], 16)
            if vaddr <= address < vaddr + filesz:
                return address - vaddr + offset
    raise SystemExit(f"address {address:#x} is in no LOAD segment of {library}")


def patch(library: Path) -> int:
    """Make every ``xgetbv`` in ``library`` report ``XCR0 = 7``. Returns how many were patched."""
    data = bytearray(library.read_bytes())
    addresses = xgetbv_addresses(library)
    if not addresses:
        raise SystemExit(f"no xgetbv in {library}: nothing to patch")
    for address in addresses:
        at = file_offset(library, address)
        if data[at:at + 3] != XGETBV:
            raise SystemExit(f"the bytes at {address:#x} in {library} are not xgetbv")
        data[at:at + 3] = XCR0_IS_7
    library.write_bytes(bytes(data))
    return len(addresses)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="where the patched onnxruntime package goes (put it first on PYTHONPATH)")
    a = ap.parse_args(argv)
    import onnxruntime

    source = Path(onnxruntime.__file__).parent
    target = a.folder / "onnxruntime"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    libraries = sorted((target / "capi").glob("libonnxruntime.so*"))
    if not libraries:
        raise SystemExit(f"no libonnxruntime.so under {target / 'capi'}")
    for library in libraries:
        print(f"{library}: {patch(library)} xgetbv patched")
    print(f"now: PYTHONPATH={a.folder} {sys.executable} bench/lm.py")


if __name__ == "__main__":
    main()
