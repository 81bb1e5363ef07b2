"""Input and output: CT reading (DICOM, zip, NIfTI/NRRD/MHA), label maps, DICOM SEG, atomic writes."""

from .atomic import atomic_path, write_json_atomic, write_text_atomic
from .labels import read_label_map, write_image, write_label_map

__all__ = ["atomic_path", "write_json_atomic", "write_text_atomic", "read_label_map",
           "write_image", "write_label_map"]
