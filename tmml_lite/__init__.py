"""tmml_lite: prompt learning for CLIP (zero-shot, CoOp, CoCoOp, TMML), small enough to read.

Layers, bottom to top: `world` (the procedural world), `metrics`, `checkpoint` (safe files), `store` (resumable
result CSVs); `datasets` and `data` (real datasets, the few-shot base-to-new split), `backbone` (loading CLIP);
`text_encoder` (CLIP's text tower on prompt embeddings), `zeroshot`, `pretrain`; the learners' parts `layers`,
`saving`, `prompt_learner` (PromptLearner: the base and its contract), `ctp` (ClassAwarePrompt), `tft`
(TextGuidedFeatureTuning) and `losses` (contrastive_loss); the prompt learners `coop`, `cocoop` and `tmml`;
`engine` (fit, evaluate, and the base-to-new benchmark run_seed / run_seeds); `methods` (every method and its
recipe); `grid`, `premises`, `discrimination` and `bench`; plotting and widgets on top. Nothing imports from a
layer above its own (tests/test_layers.py checks).
"""

from .backbone import TINY_MODEL, TINY_MODELS, Backbone, get_profile, load_clip
from .data import base_to_new, check_classnames, few_shot_indices, load_split
from .metrics import accuracy, harmonic_mean
from .text_encoder import PromptTextEncoder
from .world import TASKS, get_task
from .zeroshot import encode_images, similarity_matrix, text_classifier, zeroshot_accuracy
from .prompt_learner import PromptLearner
from .coop import CoOp
from .cocoop import CoCoOp
from .ctp import ClassAwarePrompt
from .tft import TextGuidedFeatureTuning
from .losses import contrastive_loss
from .tmml import TMML, TMMLOptions
from .engine import TrainConfig, evaluate, fit
from .methods import COCOOP_CONFIG, METHODS, MethodSpec
from .bench import bench_speed

__version__ = "0.1.0"
__all__ = ["TINY_MODEL", "TINY_MODELS", "Backbone", "get_profile", "load_clip", "base_to_new", "check_classnames",
           "few_shot_indices", "load_split", "accuracy", "harmonic_mean", "PromptTextEncoder", "TASKS", "get_task",
           "encode_images", "similarity_matrix", "text_classifier", "zeroshot_accuracy", "PromptLearner", "CoOp",
           "CoCoOp", "ClassAwarePrompt", "TextGuidedFeatureTuning", "contrastive_loss", "TMML",
           "TMMLOptions", "COCOOP_CONFIG", "METHODS", "MethodSpec", "TrainConfig", "fit", "evaluate", "bench_speed"]
