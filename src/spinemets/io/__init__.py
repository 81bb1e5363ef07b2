"""Input and output: CT reading (DICOM, zip, NIfTI/NRRD/MHA), label maps, DICOM SEG, atomic writes."""

from .atomic import atomic_path, write_json_atomic, write_text_atomic
from .ct_reader import read_ct
from .dicom_common import fill_missing_uids
from .dicom_write import write_ct_series
from .info import info
from .labels import read_label_map, write_image, write_label_map
from .seg import read_seg, write_seg

__all__ = ["atomic_path", "write_json_atomic", "write_text_atomic", "read_label_map",
           "write_image", "write_label_map", "write_ct_series", "write_seg", "read_seg", "read_ct", "info",
           "fill_missing_uids"]
