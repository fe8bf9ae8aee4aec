"""An LFW-layout folder: `<Name>/<Name>_NNNN.jpg` plus an LFW-format `pairs.txt`.

Loads the images and pairs, describes every image once (cached by file hash, model and
settings) and hands the vectors to the metrics.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_RE = re.compile(r"^(?P<name>.+)_(?P<num>\d{4})\.(jpg|jpeg|png)$", re.IGNORECASE)


class DatasetError(ValueError):
    """The folder or the pairs file is not in LFW layout."""


@dataclass
class LfwFolder:
    root: Path
    images: list[Path] = field(default_factory=list)        # sorted by identity, then number
    identities: list[str] = field(default_factory=list)     # identity of each image
    numbers: list[int] = field(default_factory=list)        # LFW image number of each image

    def index_of(self) -> dict[tuple[str, int], int]:
        return {(n, k): i for i, (n, k) in enumerate(zip(self.identities, self.numbers))}


def load_folder(root: str | Path) -> LfwFolder:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    folder = LfwFolder(root)
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for image in sorted(person.iterdir()):
            m = IMAGE_RE.match(image.name)
            if not m or m.group("name") != person.name:
                continue
            folder.images.append(image)
            folder.identities.append(person.name)
            folder.numbers.append(int(m.group("num")))
    if not folder.images:
        raise DatasetError(f"{root} holds no <Name>/<Name>_NNNN.jpg images")
    return folder


@dataclass
class Pairs:
    first: np.ndarray    # image index of each pair's first image
    second: np.ndarray
    same: np.ndarray     # bool
    fold: np.ndarray     # fold number of each pair (0-based)
    folds: int


def load_pairs(path: str | Path, folder: LfwFolder) -> Pairs:
    """Parse LFW's pairs.txt: header `folds<TAB>n`, then per fold n matched and n mismatched lines."""
    path = Path(path)
    try:
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise DatasetError(f"cannot read pairs file {path}: {exc}") from exc
    if not lines or len(lines[0]) != 2 or not all(x.isdigit() for x in lines[0]):
        raise DatasetError(f"{path}: the first line must be '<folds> <pairs per half-fold>'")
    folds, per = int(lines[0][0]), int(lines[0][1])
    body = lines[1:]
    if len(body) != folds * 2 * per:
        raise DatasetError(f"{path}: expected {folds * 2 * per} pair lines, found {len(body)}")
    index = folder.index_of()
    first, second, same, fold = [], [], [], []
    for i, parts in enumerate(body):
        try:
            if len(parts) == 3:
                a, b = (parts[0], int(parts[1])), (parts[0], int(parts[2]))
            elif len(parts) == 4:
                a, b = (parts[0], int(parts[1])), (parts[2], int(parts[3]))
            else:
                raise ValueError
        except ValueError:
            raise DatasetError(f"{path}: line {i + 2} is not a pair: {' '.join(parts)!r}") from None
        for key in (a, b):
            if key not in index:
                raise DatasetError(f"{path}: line {i + 2} names {key[0]}_{key[1]:04d}, not in {folder.root}")
        first.append(index[a])
        second.append(index[b])
        same.append(len(parts) == 3)
        fold.append(i // (2 * per))
    return Pairs(np.array(first), np.array(second), np.array(same), np.array(fold), folds)


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class DescriptorCache:
    """Vectors keyed by image file hash, in one .npz per (model, settings)."""

    def __init__(self, directory: Path, model_id: str, settings: str):
        key = hashlib.sha1(f"{model_id}|{settings}".encode()).hexdigest()[:16]
        self.path = Path(directory) / f"descriptors-{key}.npz"
        self.model_id, self.settings = model_id, settings
        self.entries: dict[str, tuple[np.ndarray, str]] = {}  # hash -> (vector, how the face was found)
        self.dirty = False
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    if str(data["model_id"]) == model_id and str(data["settings"]) == settings:
                        found = (data["found"] if "found" in data.files
                                 else np.where(data["detected"], "detected", "centre"))  # older caches
                        for h, v, d in zip(data["hashes"], data["vectors"], found):
                            self.entries[str(h)] = (v, str(d))
            except (OSError, KeyError, ValueError):
                self.entries = {}  # a damaged cache is rebuilt, never trusted

    def get(self, digest: str):
        return self.entries.get(digest)

    def put(self, digest: str, vector: np.ndarray, found: str) -> None:
        self.entries[digest] = (np.asarray(vector, np.float32), found)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or not self.entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        hashes = list(self.entries)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, model_id=self.model_id, settings=self.settings, hashes=np.array(hashes),
                 vectors=np.stack([self.entries[h][0] for h in hashes]),
                 found=np.array([self.entries[h][1] for h in hashes]))
        tmp.replace(self.path)
        self.dirty = False


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, label: str, stream=None):
        self.total, self.label, self.stream = total, label, stream or sys.stderr
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if done < self.total and now - self.last < 0.5:
            return
        self.last = now
        frac = done / max(1, self.total)
        bar = "#" * int(30 * frac)
        rate = done / max(1e-9, now - self.start)
        eta = (self.total - done) / rate if rate > 0 else 0
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} {rate:.1f}/s eta {eta:.0f}s ")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def describe_all(images: list[Path], extractor, cache: DescriptorCache | None, label: str = "describe"):
    """(vectors (n, d), how each face was found (n,) str, seconds per newly described image or None)."""
    vectors, found_by = [None] * len(images), [""] * len(images)
    progress = Progress(len(images), label)
    spent, computed = 0.0, 0
    for i, path in enumerate(images):
        digest = file_hash(path)
        hit = cache.get(digest) if cache else None
        if hit is None:
            t0 = time.perf_counter()
            vector, found = extractor.describe_file(path)
            spent += time.perf_counter() - t0
            computed += 1
            if cache:
                cache.put(digest, vector, found)
                if computed % 500 == 0:
                    cache.save()
        else:
            vector, found = hit
        vectors[i], found_by[i] = vector, found
        progress.update(i + 1)
    if cache:
        cache.save()
    return np.stack(vectors).astype(np.float32), np.array(found_by), (spent / computed if computed else None)
