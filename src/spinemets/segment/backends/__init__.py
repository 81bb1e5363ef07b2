"""Segmentation backends that run trained models: nnU-Net v2 model folders and TotalSegmentator.

Both return :class:`spinemets.image.LabelMap` objects on the CT grid with spinemets anatomy ids
(VerSe ids for vertebrae, 101-122 for muscles). Neither imports torch until called.
"""

from .nnunet import run_nnunet_muscles, run_nnunet_structures, run_nnunet_vertebrae
from .totalseg import (TOTALSEG_INSTALL_HINT, load_totalseg_output, run_totalseg_muscles,
                       run_totalseg_vertebrae, totalseg_weights_dir)

__all__ = ["run_nnunet_vertebrae", "run_nnunet_muscles", "run_nnunet_structures",
           "run_totalseg_vertebrae", "run_totalseg_muscles", "load_totalseg_output",
           "totalseg_weights_dir", "TOTALSEG_INSTALL_HINT"]
