"""The face library: photo names, image decoding, enrolment and the live gallery."""

from .images import ImageRefused, decode_image
from .names import BadName, Identity, PhotoName, parse_photo_name
from .service import MODEL_ID, REASONS, EnrollResult, FaceLibrary, Refused
from .sources import folder_items, zip_items

__all__ = ["MODEL_ID", "REASONS", "BadName", "EnrollResult", "FaceLibrary", "ImageRefused",
           "Identity", "PhotoName", "Refused", "decode_image", "folder_items", "parse_photo_name", "zip_items"]
