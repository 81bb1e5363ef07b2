"""A tiny nnU-Net v2 trainer for tests and demos (plumbing, not accuracy).

It combines two stock nnU-Net variants: ``nnUNetTrainer_1epoch`` (one epoch) and
``nnUNetTrainerNoMirroring`` (no mirroring in augmentation or test-time augmentation), and cuts
the iteration counts from 250 training / 50 validation iterations to a handful, so that an
end-to-end plan + train + predict runs in a minute or two on a 2-core CPU with ~35^3 volumes.
Everything else (plans, augmentation, loss, checkpointing, final validation) is nnU-Net's own.

Mirroring is off because spinemets' classes are not mirror-symmetric: a flip along z swaps
vertebral levels and a flip along x swaps left/right muscles (TotalSegmentator trains its
models with no-mirroring trainers for the same reason). For real training, use nnU-Net's stock
``-tr nnUNetTrainerNoMirroring``.
"""

import torch
from nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoMirroring import (
    nnUNetTrainerNoMirroring,
)
from nnunetv2.training.nnUNetTrainer.variants.training_length.nnUNetTrainer_Xepochs import (
    nnUNetTrainer_1epoch,
)


class nnUNetTrainer_spinemetsTiny(nnUNetTrainer_1epoch, nnUNetTrainerNoMirroring):
    """One epoch of 4 training and 1 validation iteration, no mirroring."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_iterations_per_epoch = 4
        self.num_val_iterations_per_epoch = 1
