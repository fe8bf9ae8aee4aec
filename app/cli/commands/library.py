"""`daka enroll DIR|ZIP`, `daka reindex`: the face library."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from app.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, load
from app.cli.progress import ProgressBar


def register(sub) -> None:
    enroll = sub.add_parser("enroll", help="enrol photos named 工号_姓名.jpg from a folder or a zip")
    enroll.add_argument("path", metavar="DIR|ZIP", help="folder (searched recursively) or zip archive")
    enroll.set_defaults(handler=cmd_enroll)
    reindex = sub.add_parser("reindex", help="recompute every face template with the current model")
    reindex.set_defaults(handler=cmd_reindex)


def _open_library(instance, config):
    from app.services.compose import open_library  # lazy: SQLAlchemy, OpenCV, ONNX Runtime (both)
    from app.store import open_store

    return open_library(config, instance, open_store(config, instance))


def cmd_enroll(args) -> int:
    from app.library.sources import count_items, folder_items, zip_items  # lazy: SQLAlchemy, OpenCV (app.library)

    instance, config = load(args)
    source = Path(args.path)
    max_bytes = config.storage.photo_max_mb * 1024 * 1024
    if source.is_dir():
        items = folder_items(source, max_bytes=max_bytes)
    elif zipfile.is_zipfile(source):
        items = zip_items(source, max_bytes=max_bytes, max_files=config.library.max_zip_files)
    else:
        print(f"daka: {source} is neither a folder nor a zip archive", file=sys.stderr)
        return EXIT_USAGE
    library = _open_library(instance, config)
    bar = ProgressBar(count_items(source), "enrol")
    results = []
    for i, result in enumerate(library.enroll_many(items), 1):
        results.append(result.as_dict())
        bar.update(i, result.file)
    bar.update(bar.total)
    ok = sum(r["ok"] for r in results)
    print(json.dumps({"enrolled": ok, "refused": len(results) - ok, "files": results},
                     ensure_ascii=False, indent=2))
    return EXIT_OK if ok == len(results) else EXIT_FAIL


def cmd_reindex(args) -> int:
    instance, config = load(args)
    library = _open_library(instance, config)
    bar: list[ProgressBar] = []

    def progress(done, total):
        if not bar:
            bar.append(ProgressBar(total, "reindex"))
        bar[0].update(done)
    report = library.reindex(progress)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return EXIT_OK if not report["failed"] else EXIT_FAIL
