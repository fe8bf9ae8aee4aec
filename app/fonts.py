"""Finding a Simplified Chinese font for the text renderer.

Order: the configured file, then any font in assets/fonts/ (the setup step may put one there),
then the system's WenQuanYi Micro Hei, then Noto Sans CJK (whose .ttc face 2 is Simplified
Chinese; face 0 is Japanese and draws some hanzi with Japanese glyph shapes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS_FONTS = Path(__file__).resolve().parents[1] / "assets" / "fonts"
SYSTEM_FONTS = (
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc"), 2),
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
)


class FontError(RuntimeError):
    """No usable CJK font."""


@dataclass(frozen=True)
class FontChoice:
    path: Path
    face_index: int
    origin: str  # "config", "assets" or "system"


def _face_index_for(path: Path) -> int:
    return 2 if "notosanscjk" in path.name.lower() and path.suffix.lower() == ".ttc" else 0


def find_cjk_font(configured: str | Path | None = None) -> FontChoice:
    """Return the font to draw names with, or raise FontError saying how to get one."""
    if configured:
        spec = str(configured)
        # "path#index" picks a face inside a .ttc collection.
        path_part, _, index_part = spec.partition("#")
        path = Path(path_part).expanduser()
        if not path.is_file():
            raise FontError(f"configured font not found: {path} ([ui] font in the config)")
        index = int(index_part) if index_part.isdigit() else _face_index_for(path)
        return FontChoice(path, index, "config")
    if ASSETS_FONTS.is_dir():
        for path in sorted(ASSETS_FONTS.iterdir()):
            if path.suffix.lower() in (".ttf", ".ttc", ".otf"):
                return FontChoice(path, _face_index_for(path), "assets")
    for path, index in SYSTEM_FONTS:
        if path.is_file():
            return FontChoice(path, index, "system")
    raise FontError(
        "no Chinese font found: install Debian's fonts-wqy-microhei (make run does), "
        f"put a .ttf/.ttc in {ASSETS_FONTS}, or set [ui] font in the config"
    )
