"""Fetching the on-disk datasets (needs a network; used only when asked with ``download=True``).

Kept apart from the readers and untested offline on purpose: the readers are tested on small files
the tests write; this module only moves the official archives into place and checks their MD5.
"""
from __future__ import annotations

import hashlib
import logging
import tarfile
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
IDX_SOURCES = {
    # name -> (base URL, MD5 of each file in IDX_FILES order); checksums as published by the authors
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
               "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                       "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"


def fetch(url: str, dest: Path, md5: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (via a temporary file) unless already there with the right MD5."""
    if dest.is_file() and _md5(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    log.info("downloading %s -> %s", url, dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except OSError as exc:  # URLError, timeouts, refused connections are all OSErrors
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not download {url} ({exc}); fetch it by hand into {dest.parent}") from exc
    if _md5(tmp) != md5:
        tmp.unlink(missing_ok=True)
        raise OSError(f"{url}: downloaded file has the wrong MD5 (expected {md5}); try again or fetch it by hand")
    tmp.replace(dest)
    return dest


def download_idx(name: str, directory: Path) -> None:
    """The four gzipped IDX files of ``name`` into ``directory``."""
    base, sums = IDX_SOURCES[name]
    for filename, md5 in zip(IDX_FILES, sums):
        fetch(base + filename, directory / filename, md5)


def download_cifar10(root: Path) -> None:
    """cifar-10-python.tar.gz into ``root``, unpacked to ``root/cifar-10-batches-py``."""
    archive = fetch(CIFAR10_URL, root / "cifar-10-python.tar.gz", CIFAR10_MD5)
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            # the "data" filter refuses absolute paths, links out of root and device files
            tar.extractall(root, filter="data")
        else:  # Python < 3.10.12 / 3.11.4: check by hand that only plain files and folders land in root
            base = root.resolve()
            for member in tar.getmembers():
                target = (root / member.name).resolve()
                if not (member.isfile() or member.isdir()) or base not in (target, *target.parents):
                    raise OSError(f"{archive}: refusing to extract {member.name!r}")
            tar.extractall(root)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
