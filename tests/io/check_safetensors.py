#!/usr/bin/env python3
"""Checks invar's safetensors export from outside invar (run by tests/io/test_safetensors_python.cpp).

    check_safetensors.py numpy <fixture dir>
        Parses every fixture's .safetensors file and invar parameter file (.invar) independently of
        invar's C++ code, validates both formats, and checks that every tensor is byte for byte the
        parameter file's "model/<name>" entry, with the same dtype and shape.
    check_safetensors.py torch <fixture dir> <docs/export.md>
        Runs the Python block of docs/export.md, builds each fixture's torch module, loads the
        file with load_invar_weights and compares the logits on the fixture's input batch with
        invar's (max |difference| <= 1e-5).

<fixture dir>/fixtures.json lists the fixtures: name, safetensors, checkpoint, builder (a Python
expression over the docs' functions), input and logits (.npy files). Exit status: 0 all good,
1 a check failed, 77 numpy (or, for "torch", torch) cannot be imported: ctest's skip code.
"""

import json
import os
import struct
import sys
import zlib

try:
    import numpy as np
except ImportError:
    print("check_safetensors: numpy is not installed for", sys.executable, "(Debian: python3-numpy)")
    sys.exit(77)

FAILURES = []


def fail(message):
    FAILURES.append(message)
    print("FAIL:", message)


ST_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
INVAR_TYPES = {1: ("F32", 4), 2: ("F64", 8), 3: ("I64", 8), 4: ("text", 1)}


def read_safetensors(path):
    """name -> (dtype string, shape tuple, raw bytes), and the metadata; validates the format."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header of {n} bytes runs past the end of the file ({len(data)} bytes)")
    if (8 + n) % 8 != 0:
        raise ValueError(f"{path}: the data start at offset {8 + n}, not a multiple of 8")
    raw_header = data[8:8 + n]
    text = raw_header.rstrip(b" ")
    if not text.startswith(b"{") or not text.endswith(b"}"):
        raise ValueError(f"{path}: the header is not one JSON object followed by space padding")
    if len(raw_header) - len(text) >= 8:
        raise ValueError(f"{path}: {len(raw_header) - len(text)} bytes of padding, more than needed")
    header = json.loads(text.decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"{path}: __metadata__ holds a value that is not a string")
    body = data[8 + n:]
    tensors, spans = {}, []
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{path}: tensor {name!r} has fields {sorted(info)}")
        dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        if dtype not in ST_DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {dtype}")
        if not all(isinstance(e, int) and e >= 0 for e in shape):
            raise ValueError(f"{path}: tensor {name!r} has shape {shape}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * ST_DTYPES[dtype].itemsize:
            raise ValueError(f"{path}: tensor {name!r} holds {end - begin} bytes for {dtype} {shape}")
        if begin % ST_DTYPES[dtype].itemsize:
            raise ValueError(f"{path}: tensor {name!r} starts at data offset {begin}, not aligned to its dtype")
        tensors[name] = (dtype, shape, body[begin:end])
        spans.append((begin, end, name))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            raise ValueError(f"{path}: tensor {name!r} starts at {begin}, the previous one ends at {at}")
        at = end
    if at != len(body):
        raise ValueError(f"{path}: {len(body) - at} bytes after the last tensor")
    return tensors, metadata


def read_invar_archive(path):
    """name -> (dtype string, shape tuple, raw bytes) of an invar parameter file (docs/parameter-files.md)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"INVARCK\x00":
        raise ValueError(f"{path}: not an invar parameter file (magic {data[:8]!r})")
    version, count, size = struct.unpack("<IIQ", data[8:24])
    if version != 1:
        raise ValueError(f"{path}: format version {version}")
    if size != len(data):
        raise ValueError(f"{path}: header records {size} bytes, the file has {len(data)}")
    (stored,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != stored:
        raise ValueError(f"{path}: CRC-32 mismatch")
    entries, at = {}, 24
    for _ in range(count):
        (length,) = struct.unpack("<I", data[at:at + 4])
        name = data[at + 4:at + 4 + length].decode("utf-8")
        at += 4 + length
        type_code, rank = data[at], data[at + 1]
        at += 2
        shape = struct.unpack(f"<{rank}q", data[at:at + 8 * rank])
        at += 8 * rank
        dtype, itemsize = INVAR_TYPES[type_code]
        nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize if rank else itemsize
        entries[name] = (dtype, tuple(shape), data[at:at + nbytes])
        at += nbytes
    if at != len(data) - 4:
        raise ValueError(f"{path}: {len(data) - 4 - at} bytes left after the entries")
    return entries


def check_numpy(directory, fixtures):
    for fx in fixtures:
        try:
            tensors, metadata = read_safetensors(os.path.join(directory, fx["safetensors"]))
            entries = read_invar_archive(os.path.join(directory, fx["checkpoint"]))
        except ValueError as e:
            fail(str(e))
            continue
        model = {k[len("model/"):]: v for k, v in entries.items() if k.startswith("model/")}
        if metadata.get("format") != "pt":
            fail(f"{fx['name']}: metadata format is {metadata.get('format')!r}, not 'pt'")
        if set(model) != set(tensors):
            fail(f"{fx['name']}: tensors {sorted(set(tensors) ^ set(model))} are in only one of the two files")
        values = 0
        for name in sorted(set(model) & set(tensors)):
            st_dtype, st_shape, st_bytes = tensors[name]
            ck_dtype, ck_shape, ck_bytes = model[name]
            if (st_dtype, st_shape) != (ck_dtype, ck_shape):
                fail(f"{fx['name']}: {name}: {st_dtype} {st_shape} in safetensors, {ck_dtype} {ck_shape} in the checkpoint")
                continue
            if st_bytes != ck_bytes:
                fail(f"{fx['name']}: {name}: the bytes differ")
                continue
            a = np.frombuffer(st_bytes, dtype=ST_DTYPES[st_dtype]).reshape(st_shape)
            b = np.frombuffer(ck_bytes, dtype=ST_DTYPES[ck_dtype]).reshape(ck_shape)
            if not np.array_equal(a.view(np.uint8), b.view(np.uint8)):
                fail(f"{fx['name']}: {name}: the arrays differ")
            values += a.size
        print(f"{fx['name']}: {len(tensors)} tensors, {values} values: byte for byte the checkpoint's "
              f"(metadata {json.dumps(metadata, sort_keys=True)})")


def docs_block(path):
    """The Python block of docs/export.md that follows its 'invar_torch.py' marker."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("<!-- invar_torch.py"))
    begin = next(i for i in range(start, len(lines)) if lines[i].strip() == "```python") + 1
    end = next(i for i in range(begin, len(lines)) if lines[i].strip() == "```")
    return "\n".join(lines[begin:end])


def check_torch(directory, fixtures, docs):
    try:
        import torch  # noqa: F401
    except ImportError:
        print("check_safetensors: torch is not installed for", sys.executable, "(Debian: python3-torch)")
        sys.exit(77)
    namespace = {"__name__": "invar_torch"}
    exec(compile(docs_block(docs), docs + " (invar_torch.py block)", "exec"), namespace)
    torch.set_num_threads(1)
    for fx in fixtures:
        module = eval(fx["builder"], namespace)
        try:
            namespace["load_invar_weights"](module, os.path.join(directory, fx["safetensors"]))
        except (KeyError, RuntimeError) as e:
            fail(f"{fx['name']}: {fx['builder']}: {e}")
            continue
        x = np.load(os.path.join(directory, fx["input"]))
        want = np.load(os.path.join(directory, fx["logits"]))
        with torch.no_grad():
            got = module(torch.from_numpy(x)).numpy()
        if got.shape != want.shape:
            fail(f"{fx['name']}: torch logits have shape {got.shape}, invar's {want.shape}")
            continue
        diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        scale = float(np.max(np.abs(want)))
        print(f"{fx['name']}: {fx['builder']}: logits {want.shape}, max |torch - invar| = {diff:.3g} "
              f"(largest |logit| {scale:.3g})")
        if not diff <= 1e-5:
            fail(f"{fx['name']}: torch and invar logits differ by {diff:.3g} > 1e-5")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("numpy", "torch") or (argv[1] == "torch" and len(argv) < 4):
        print(__doc__)
        return 2
    directory = argv[2]
    with open(os.path.join(directory, "fixtures.json"), encoding="utf-8") as f:
        fixtures = json.load(f)
    if argv[1] == "numpy":
        check_numpy(directory, fixtures)
    else:
        check_torch(directory, fixtures, argv[3])
    print(f"check_safetensors {argv[1]}: {len(fixtures)} files, {len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
