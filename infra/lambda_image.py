"""Build a stand-in for AWS's Lambda Python base image, for ``sam local`` on a machine with no registry.

``sam local start-api`` runs each function in a container built ``FROM
public.ecr.aws/lambda/python:3.13-x86_64``, which it pulls from AWS's public gallery. Where no image
registry is reachable (this project's CI), this script builds an image under that exact name from
what is at hand, and SAM then adds its emulator and the layers on top as usual:

- a minimal Debian rootfs (``debootstrap --variant=minbase``) with the shared libraries CPython needs;
- the local CPython of the runtime's version (``infra/lambda_python.py`` finds it) under ``/var/lang``;
- ``awslambdaric`` (the runtime client the managed runtime runs) and boto3 (which the managed runtime
  provides and the layer leaves out) under ``/var/runtime``, at the versions the repository pins;
- ``/var/runtime/bootstrap``, which the emulator execs: it runs the handler SAM passes in
  ``AWS_LAMBDA_FUNCTION_HANDLER`` with Lambda's module search path;
- ``docker import`` with the Lambda image's environment (``LAMBDA_TASK_ROOT``, ``PATH``, ...).

Differences from the real image are listed in infra/README.md. Users with internet never need this.

Cached twice: the debootstrap tarball in ``$AIMUX_CACHE_DIR`` (default ``~/.cache/aimux``), keyed by
its package list, and the image itself, labelled with a hash of every input, so a second run with
the same inputs does nothing.

    python infra/lambda_image.py            # build if missing or stale; prints the image name
    python infra/lambda_image.py --check    # exit 1 unless the image is present and current
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
from lambda_python import find_lambda_python, runtime_version  # noqa: E402

REPOSITORY = "public.ecr.aws/lambda/python"
LABEL = "org.aimux.lambda-image"
SUITE = "bookworm"
MIRROR = os.environ.get("AIMUX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What CPython's extension modules link against (ldd of lib-dynload), plus CA certificates for TLS.
PACKAGES = (
    "libssl3", "libsqlite3-0", "libffi8", "libreadline8", "libncursesw6", "libgdbm6", "libgdbm-compat4",
    "libexpat1", "libbz2-1.0", "liblzma5", "zlib1g", "libuuid1", "ca-certificates",
)  # fmt: skip
# Dropped from the rootfs: package caches and documentation nobody reads in a container.
ROOTFS_PRUNE = ("var/cache/apt/archives/", "var/lib/apt/lists/", "usr/share/doc/", "usr/share/man/",
                "usr/share/info/", "usr/share/locale/")  # fmt: skip
# Dropped from the interpreter: tests, GUI modules, the static library, whatever was pip-installed.
PYTHON_PRUNE = re.compile(
    r"^(include|share|lib/pkgconfig)/|^lib/python3\.\d+/(test|idlelib|tkinter|turtledemo|site-packages"
    r"|config-[^/]*)/|^lib/python3\.\d+/lib-dynload/_tkinter|^bin/(?!python3\.\d+$)"
)
# The managed runtime's environment (the real image's ENV lines, LANG aside: minbase has no en_US).
def image_environment(version: str) -> dict[str, str]:
    return {
        "LANG": "C.UTF-8",
        "TZ": ":/etc/localtime",
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": ":".join(
            ("/var/lang/lib", "/lib64", "/usr/lib64", "/var/runtime", "/var/runtime/lib", "/var/task",
             "/var/task/lib", "/opt/lib")
        ),
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
    }


# Lambda's module search order for Python: the function, the layer's two roots, then the runtime.
BOOTSTRAP = """#!/bin/sh
# Stand-in for the managed runtime's bootstrap (aimux infra/lambda_image.py): the emulator execs this;
# it runs the handler named in AWS_LAMBDA_FUNCTION_HANDLER through awslambdaric.
export AWS_EXECUTION_ENV=AWS_Lambda_python{version}
PYTHONPATH="/var/task:/opt/python/lib/python{version}/site-packages:/opt/python:/var/runtime${{PYTHONPATH:+:$PYTHONPATH}}"
export PYTHONPATH
if [ -n "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
    exec "$AWS_LAMBDA_EXEC_WRAPPER" /var/lang/bin/python{version} -m awslambdaric "$AWS_LAMBDA_FUNCTION_HANDLER"
fi
exec /var/lang/bin/python{version} -m awslambdaric "$AWS_LAMBDA_FUNCTION_HANDLER"
"""


def arch() -> str:
    return {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[os.uname().machine]


def image_names(version: str, architecture: str) -> list[str]:
    """The tags SAM asks for: ``3.13-x86_64`` for a ZIP function, ``3.13`` as the plain alias."""
    return [f"{REPOSITORY}:{version}-{architecture}", f"{REPOSITORY}:{version}"]


def cache_dir() -> Path:
    return Path(os.environ.get("AIMUX_CACHE_DIR") or Path.home() / ".cache" / "aimux")


def runtime_requirements() -> list[str]:
    """awslambdaric and its dependencies (infra/requirements-ric.txt) and the AWS SDK the managed runtime
    provides (boto3 and its dependencies) at the versions requirements.lock pins."""
    lines = (ROOT / "infra" / "requirements-ric.txt").read_text(encoding="utf-8").splitlines()
    wanted = [req for req in (line.split("#")[0].strip() for line in lines) if req]
    sdk = r"^(boto3|botocore|s3transfer|jmespath|python-dateutil|six|urllib3)==([^\s;]+)"
    pins = dict(re.findall(sdk, _lock_text(), re.MULTILINE))
    return wanted + [f"{name}=={version}" for name, version in sorted(pins.items())]


def _lock_text() -> str:
    lock = ROOT / "requirements.lock"
    return lock.read_text(encoding="utf-8") if lock.is_file() else ""


def python_prefix(python: str) -> tuple[Path, str]:
    """(sys.prefix, full version) of the interpreter that goes to /var/lang."""
    out = subprocess.run([python, "-c", "import sys, platform; print(sys.prefix); print(platform.python_version())"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return Path(out[0]), out[1]


def image_key(version: str, full_version: str, requirements: list[str]) -> str:
    """Hash of every input of the image: a different one means rebuild."""
    source = json.dumps(
        {
            "packages": PACKAGES, "suite": SUITE, "python": full_version, "requirements": requirements,
            "bootstrap": BOOTSTRAP.format(version=version), "env": image_environment(version),
            "script": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        },
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def current_key(name: str) -> str | None:
    """The input hash the image ``name`` was built from, or None when there is no such image."""
    result = subprocess.run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", name],
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout or "null") or {}
    return labels.get(LABEL)


def rootfs_tarball() -> Path:
    """The debootstrap rootfs as a tarball, from the cache or built now (~40 s)."""
    key = hashlib.sha256(json.dumps([SUITE, MIRROR, PACKAGES, ROOTFS_PRUNE]).encode()).hexdigest()[:16]
    tarball = cache_dir() / f"lambda-rootfs-{SUITE}-{key}.tar"
    if tarball.is_file():
        print(f"lambda_image: rootfs from the cache ({tarball})")
        return tarball
    if not shutil.which("debootstrap"):
        raise SystemExit("lambda_image: debootstrap is not installed (apt-get install -y debootstrap)")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aimux-rootfs-") as scratch:
        target = Path(scratch) / "rootfs"
        started = time.monotonic()
        command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(target), MIRROR]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"lambda_image: debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        print(f"lambda_image: debootstrap {SUITE} in {time.monotonic() - started:.0f} s")
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as out:
            out.add(target, arcname=".", filter=_prune_rootfs)
        partial.replace(tarball)
    return tarball


def _prune_rootfs(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    name = member.name.removeprefix("./")
    return None if any(name.startswith(p) and name != p.rstrip("/") for p in ROOTFS_PRUNE) else member


def runtime_dir(requirements: list[str], version: str, architecture: str) -> Path:
    """awslambdaric + boto3 for the runtime's CPython and CPU, installed once per requirement set."""
    key = hashlib.sha256(json.dumps([requirements, version, architecture]).encode()).hexdigest()[:16]
    target = cache_dir() / f"lambda-runtime-{key}"
    if (target / ".complete").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    wheel_arch = {"x86_64": "x86_64", "arm64": "aarch64"}[architecture]
    platforms = [f"--platform={tag}_{wheel_arch}" for tag in ("manylinux2014", "manylinux_2_28", "manylinux_2_34")]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
         "--target", str(target), "--implementation", "cp", "--python-version", version, "--only-binary=:all:",
         *platforms, *requirements],
        check=True,
    )  # fmt: skip
    shutil.rmtree(target / "bin", ignore_errors=True)
    (target / ".complete").touch()
    return target


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    return info, io.BytesIO(data)


def _directory(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def image_members(rootfs: Path, prefix: Path, runtime: Path, version: str) -> Iterator[tuple[tarfile.TarInfo, io.BufferedIOBase | None]]:  # noqa: E501
    """Every entry of the image's filesystem, in order: rootfs, /var/lang, /var/runtime, bootstrap."""
    with tarfile.open(rootfs) as source:
        for member in source:
            yield member, source.extractfile(member) if member.isreg() else None
    for path in sorted(prefix.rglob("*")):
        relative = path.relative_to(prefix).as_posix()
        if PYTHON_PRUNE.search(relative + ("/" if path.is_dir() and not path.is_symlink() else "")):
            continue
        info = tarfile.TarInfo(f"./var/lang/{relative}")
        stat = path.lstat()
        info.mode, info.mtime = stat.st_mode & 0o7777, int(stat.st_mtime)
        if path.is_symlink():
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
            yield info, None
        elif path.is_dir():
            info.type = tarfile.DIRTYPE
            yield info, None
        else:
            info.size = stat.st_size
            with path.open("rb") as handle:
                yield info, handle  # type: ignore[misc]
    for directory in ("./var/task", "./opt", f"./var/lang/lib/python{version}/site-packages"):
        yield _directory(directory), None
    yield _symlink("./var/lang/bin/python3", f"python{version}"), None
    yield _symlink("./var/lang/bin/python", f"python{version}"), None
    yield _directory("./var/runtime"), None
    for path in sorted(runtime.rglob("*")):
        relative = path.relative_to(runtime).as_posix()
        if relative == ".complete":
            continue
        info = tarfile.TarInfo(f"./var/runtime/{relative}")
        if path.is_dir():
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield info, None
        else:
            info.size, info.mode = path.stat().st_size, 0o644
            with path.open("rb") as handle:
                yield info, handle  # type: ignore[misc]
    yield _file("./var/runtime/bootstrap", BOOTSTRAP.format(version=version).encode(), 0o755)


def build(force: bool = False) -> str:
    """Build (or keep) the image; returns its primary name."""
    version = runtime_version()
    architecture = arch()
    names = image_names(version, architecture)
    python = find_lambda_python(version)
    if not python:
        raise SystemExit(f"lambda_image: no python{version} on this machine (PATH, pyenv): nothing to put in /var/lang")
    prefix, full_version = python_prefix(python)
    requirements = runtime_requirements()
    key = image_key(version, full_version, requirements)
    if not force and all(current_key(name) == key for name in names):
        print(f"lambda_image: {names[0]} is current ({key})")
        return names[0]
    started = time.monotonic()
    rootfs = rootfs_tarball()
    runtime = runtime_dir(requirements, version, architecture)
    changes = [f"ENV {name}={value}" for name, value in image_environment(version).items()]
    changes += ["WORKDIR /var/task", f"LABEL {LABEL}={key}"]
    command = ["docker", "import", *[arg for change in changes for arg in ("--change", change)], "-", names[0]]
    importer = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert importer.stdin is not None
    written: set[str] = set()
    with tarfile.open(fileobj=importer.stdin, mode="w|") as out:
        for info, data in image_members(rootfs, prefix, runtime, version):
            if info.name.rstrip("/") not in written:  # docker import refuses a path twice (./opt, ./var/task)
                written.add(info.name.rstrip("/"))
                out.addfile(info, data)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit(f"lambda_image: docker import failed ({importer.returncode})")
    for alias in names[1:]:
        subprocess.run(["docker", "tag", names[0], alias], check=True)
    print(f"lambda_image: built {', '.join(names)} ({key}) from {python} in {time.monotonic() - started:.0f} s")
    return names[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the stand-in Lambda Python base image for sam local.")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the image is present and current")
    parser.add_argument("--force", action="store_true", help="rebuild even if the image is current")
    args = parser.parse_args(argv)
    if args.check:
        version = runtime_version()
        python = find_lambda_python(version)
        if not python:
            print(f"lambda_image: no python{version}", file=sys.stderr)
            return 1
        key = image_key(version, python_prefix(python)[1], runtime_requirements())
        names = image_names(version, arch())
        stale = [name for name in names if current_key(name) != key]
        for name in stale:
            print(f"lambda_image: {name} missing or stale", file=sys.stderr)
        return 1 if stale else 0
    build(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
