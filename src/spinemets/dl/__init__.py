"""Deep-learning testbed around nnU-Net v2: dataset export, training helpers, prediction,
label mapping. Nothing here imports torch or nnunetv2 until a function needs it.

* :func:`export_nnunet_dataset` — CTs + spinemets label maps -> nnU-Net v2 raw dataset.
* :class:`NnUNetFolders`, :func:`plan_and_preprocess`, :func:`train` — run nnU-Net's own CLI
  (child processes) with spinemets' tiny trainer registered through ``nnUNet_extTrainer``.
* :func:`predict_with_nnunet` — a trained model folder on a CT, returning labels on the CT grid.
* :func:`map_model_labels` — model label names -> spinemets anatomy ids.
* :func:`resample_case`, :func:`crop_case` — make small training cases (e.g. 4 mm, a few levels).

Typical use (a testbed from phantoms; each nnU-Net step is its own CLI run in a child process)::

    folders = NnUNetFolders.under("work")
    export_nnunet_dataset(cases, folders.raw, 901, "Spine", ["L2", "L3", "L4"])
    plan_and_preprocess(901, folders, num_processes=1)
    model_dir = train(901, folders, fold=0)            # nnUNetTrainer_spinemetsTiny by default
    labels, names = predict_with_nnunet(ct, model_dir)  # or: spinemets segment CT -o OUT
                                                        #     --backend nnunet --model MODEL_DIR
"""

from .dataset import export_nnunet_dataset
from .labels import load_label_mapping, map_model_labels, resolve_anatomy_id
from .nnunet_trainers import TINY_TRAINER
from .predict import available_folds, predict_with_nnunet
from .prepare import crop_case, resample_case
from .train import NnUNetFolders, NnUNetRunError, plan_and_preprocess, train

__all__ = ["export_nnunet_dataset", "load_label_mapping", "map_model_labels", "resolve_anatomy_id",
           "TINY_TRAINER", "available_folds", "crop_case", "resample_case", "predict_with_nnunet", "NnUNetFolders",
           "NnUNetRunError", "plan_and_preprocess", "train"]
