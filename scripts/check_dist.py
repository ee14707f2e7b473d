"""Checks the release artifacts in a dist/ directory (scripts/build_wheels.sh runs it).

    python scripts/check_dist.py dist/ --forbid /abs/path/of/the/checkout --forbid /build/venv ...

For kbnn and kbnn-runtime, each one wheel per platform and one sdist:

* one version: the version in runtime/kbnn_runtime/_version.py names every artifact, and kbnn's
  metadata requires ``kbnn-runtime==<version>`` by name;
* no path of the build machine: no member of any artifact (metadata, code, native libraries, their
  RPATHs) holds ``file://`` or one of the ``--forbid`` paths;
* the wheels are tagged ``manylinux_*`` (repaired by auditwheel) and kbnn-runtime's wheel is under
  1.5 MB.

Prints one line per artifact (file, bytes, tag) and a JSON summary; exits 1 naming every problem.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import pathlib
import re
import sys
import tarfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUNTIME_WHEEL_LIMIT = 1_500_000
DISTRIBUTIONS = ("kbnn", "kbnn_runtime")


def project_version(root=ROOT) -> str:
    text = (pathlib.Path(root) / "runtime" / "kbnn_runtime" / "_version.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"$', text, re.M).group(1)


def _members(path: pathlib.Path):
    """(name, bytes) of every file in a wheel or an sdist."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield info.filename, z.read(info)
    else:
        with tarfile.open(path) as t:
            for member in t.getmembers():
                if member.isfile():
                    yield member.name, t.extractfile(member).read()
                elif member.issym() or member.islnk():
                    yield member.name, member.linkname.encode()


def _metadata(path: pathlib.Path, members: dict):
    if path.name.endswith(".whl"):
        name = next(n for n in members if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
    else:
        name = next(n for n in members if n.endswith("/PKG-INFO") and n.count("/") == 1)
    return email.parser.BytesParser().parsebytes(members[name]), name


def check_artifact(path: pathlib.Path, forbid: list, version: str) -> tuple[list, dict]:
    """(problems, row) of one wheel or sdist: every problem as one sentence."""
    problems = []
    needles = [f.rstrip("/").encode() for f in forbid if len(f.rstrip("/")) > 1] + [b"file://"]
    members = dict(_members(path))
    meta, meta_name = _metadata(path, members)
    if meta["Version"] != version:
        problems.append(f"{path.name}: version {meta['Version']}, the project's is {version}")
    if f"-{version}" not in path.name:
        problems.append(f"{path.name}: the file name does not carry version {version}")
    if not meta.get("License-Expression"):
        problems.append(f"{path.name}: no License-Expression in {meta_name}")
    if meta["Name"] == "kbnn":
        runtime_reqs = [r for r in meta.get_all("Requires-Dist", []) if r.startswith("kbnn-runtime")]
        if runtime_reqs != [f"kbnn-runtime=={version}"]:
            problems.append(
                f"{path.name}: kbnn must require kbnn-runtime=={version} by name, "
                f"its metadata says {runtime_reqs}"
            )
    for name, data in members.items():
        for needle in needles:
            if needle in data:
                at = data.index(needle)
                context = data[max(0, at - 40) : at + 80].decode("utf-8", "replace")
                problems.append(f"{path.name}: {name} holds {needle.decode()!r} (…{context!r}…)")
    tag = "sdist"
    if path.name.endswith(".whl"):
        tag = path.name[:-4].split("-", 2)[2]
        platform = tag.rsplit("-", 1)[1]
        if not platform.startswith("manylinux_"):
            problems.append(
                f"{path.name}: platform tag {platform!r} is not manylinux_* "
                "(repair the wheel with auditwheel)"
            )
        if meta["Name"] == "kbnn-runtime" and path.stat().st_size > RUNTIME_WHEEL_LIMIT:
            problems.append(f"{path.name}: {path.stat().st_size} bytes, over {RUNTIME_WHEEL_LIMIT}")
    row = {
        "file": path.name,
        "bytes": path.stat().st_size,
        "tag": tag,
        "requires": meta.get_all("Requires-Dist", []),
    }
    return problems, row


def check(dist: pathlib.Path, forbid: list, version: str) -> tuple[list, list]:
    """(problems, rows) of every artifact in ``dist``; each distribution needs a wheel and an sdist."""
    problems, rows = [], []
    artifacts = sorted(p for p in dist.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    for dist_name in DISTRIBUTIONS:
        mine = [p for p in artifacts if p.name.startswith(f"{dist_name}-")]
        if not any(p.name.endswith(".tar.gz") for p in mine):
            problems.append(f"{dist}: no sdist of {dist_name}")
        if not any(p.name.endswith(".whl") for p in mine):
            problems.append(f"{dist}: no wheel of {dist_name}")
    for path in artifacts:
        found, row = check_artifact(path, forbid, version)
        problems += found
        rows.append(row)
    return problems, rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=pathlib.Path)
    parser.add_argument(
        "--forbid",
        action="append",
        default=[],
        help="a path of the build machine that no artifact may contain (repeatable)",
    )
    args = parser.parse_args(argv)
    version = project_version()
    problems, rows = check(args.dist, args.forbid, version)
    for row in rows:
        print(f"   {row['file']:<70} {row['bytes']:>9} bytes  {row['tag']}")
    print("dist " + json.dumps({"version": version, "artifacts": {r["file"]: r["bytes"] for r in rows}}))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
