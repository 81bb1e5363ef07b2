"""A tiny nnU-Net v2 trainer for tests and demos (plumbing, not accuracy).

It is nnU-Net's stock ``nnUNetTrainer_1epoch`` (one epoch) with the iteration counts cut from
250 training / 50 validation iterations to a handful, so that an end-to-end train + predict runs
in about a minute on a 2-core CPU with ~48^3 volumes. Everything else (plans, augmentation, loss,
checkpointing, final validation) is nnU-Net's own.
"""

import torch
from nnunetv2.training.nnUNetTrainer.variants.training_length.nnUNetTrainer_Xepochs import (
    nnUNetTrainer_1epoch,
)


class nnUNetTrainer_spinemetsTiny(nnUNetTrainer_1epoch):
    """One epoch of 4 training and 1 validation iteration."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_iterations_per_epoch = 4
        self.num_val_iterations_per_epoch = 1
