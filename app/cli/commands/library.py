"""`daka enroll DIR|ZIP`, `daka reindex`: the face library."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from app.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, load
from app.cli.progress import ProgressBar


def register(sub) -> None:
    enroll = sub.add_parser("enroll", help="enrol photos named 工号_姓名.jpg, or folders named 工号_姓名, "
                                            "from a folder or a zip",
                            description="Photos are named 工号_姓名.jpg (HR0878_张三.jpg, HR0878_张三_2.jpg), or "
                                        "a folder per person is named 工号_姓名 and every photo in it is that "
                                        "person's (HR0878_张三/1.jpg); a zip holds named photos.")
    enroll.add_argument("path", metavar="DIR|ZIP", help="folder (searched recursively) or zip archive")
    enroll.set_defaults(handler=cmd_enroll)
    reindex = sub.add_parser("reindex", help="recompute every face template with the current model")
    reindex.set_defaults(handler=cmd_reindex)


def _open_library(instance, config):
    from app.services.compose import open_library  # lazy: SQLAlchemy, OpenCV, ONNX Runtime (both)
    from app.store import open_store

    return open_library(config, instance, open_store(config, instance))


LAYOUT_HINT = ("daka enroll reads photos named 工号_姓名.jpg (HR0878_张三.jpg), or a folder per person named "
               "工号_姓名 holding that person's photos (HR0878_张三/1.jpg); rename the files or folders above")


def cmd_enroll(args) -> int:
    # lazy: SQLAlchemy, OpenCV (app.library)
    from app.library import BadName, EnrollResult, Identity, Refused, parse_photo_name, sources, zip_items

    instance, config = load(args)
    source = Path(args.path)
    max_bytes = config.storage.photo_max_mb * 1024 * 1024
    if source.is_dir():
        files = _folder_files(source)
        library = _open_library(instance, config)
        bar = ProgressBar(len(files), "enrol")
        outcomes = (_enroll_in_folder(library, source, path, max_bytes, parse_photo_name, BadName, Identity,
                                      Refused, EnrollResult) for path in files)
    elif zipfile.is_zipfile(source):
        items = zip_items(source, max_bytes=max_bytes, max_files=config.library.max_zip_files)
        library = _open_library(instance, config)
        bar = ProgressBar(sources.count_items(source), "enrol")
        outcomes = library.enroll_many(items)
    else:
        print(f"daka: {source} is neither a folder nor a zip archive", file=sys.stderr)
        return EXIT_USAGE
    results = []
    for i, result in enumerate(outcomes, 1):
        results.append(result.as_dict())
        bar.update(i, result.file)
    bar.update(bar.total)
    ok = sum(r["ok"] for r in results)
    print(json.dumps({"enrolled": ok, "refused": len(results) - ok, "files": results},
                     ensure_ascii=False, indent=2))
    unread = [r["file"] for r in results if r["reason"] == "bad_name"]
    if unread:
        shown = ", ".join(unread[:5]) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
        print(f"daka: {len(unread)} file(s) say no one: {shown}\n{LAYOUT_HINT}", file=sys.stderr)
    return EXIT_OK if ok == len(results) else EXIT_FAIL


def _folder_files(root: Path) -> list[Path]:
    """Files under `root` (recursively, hidden ones skipped), in path order."""
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _enroll_in_folder(library, root: Path, path: Path, max_bytes: int, parse_photo_name, BadName, Identity,
                      Refused, EnrollResult):
    """One file of a folder: a photo named 工号_姓名 is that person's; a photo whose folder (inside
    `root`) is named 工号_姓名 is the folder's person. A file whose own name names someone else than
    its folder is refused: one of the two is wrong, and guessing would enrol a stranger. Only the
    photo's own folder counts, and never `root` itself: "HR_photos/" or "2024_new/a/" naming one
    person for a whole tree would be a silent mistake."""
    folder = path.parent
    folder_who = None
    if folder != root:
        try:
            folder_who = parse_photo_name(folder.name)
        except BadName:
            pass
    label = f"{folder.name}/{path.name}" if folder_who is not None else path.name
    try:
        file_who = parse_photo_name(path.name)
    except BadName:
        file_who = None
    try:
        if path.stat().st_size > max_bytes:
            raise Refused("too_large", f"{path.stat().st_size / 1e6:.1f} MB")
        data = path.read_bytes()
    except Refused as exc:
        return EnrollResult(label, False, exc.reason, exc.detail)
    if folder_who is None:
        return library.enroll_file(data, path.name)
    if file_who is not None and file_who.staff_no != folder_who.staff_no:
        return EnrollResult(label, False, "bad_name",
                            f"the file names {file_who.staff_no} {file_who.name} but its folder "
                            f"{folder.name} names {folder_who.staff_no} {folder_who.name}: "
                            "rename the file or move it")
    return library.enroll(data, Identity(folder_who.staff_no, folder_who.name), label=label)


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
