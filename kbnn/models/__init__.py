"""Model zoo: published binary network architectures as ``keras.Model`` builders.

No pretrained weights are shipped or downloaded: every function builds a freshly
initialised functional model. Each builder takes ``input_shape``, ``num_classes`` and the
quantizers, and keeps the first and last layers at the precision the paper used (stated in
each docstring). All layers have stable names, so weights can be copied between variants
built with different quantizers (see :func:`kbnn.distillation.copy_weights_by_name`).

=====================  ===============================================  ==================
builder                paper                                            default input
=====================  ===============================================  ==================
``BinaryNetMLP``       Courbariaux et al. 2016 (BinaryNet), MNIST MLP   (28, 28, 1)
``BinaryNetCNN``       Courbariaux et al. 2016, CIFAR-10 VGG-like CNN   (32, 32, 3)
``BiRealNet18``        Liu et al. ECCV 2018 (Bi-Real Net), ResNet-18    (224, 224, 3)
``RealToBinaryNet18``  Martinez et al. ICLR 2020 (Real-to-Binary)       (224, 224, 3)
``RealToBinaryNet``    the same as Larq Zoo builds it; loads Larq Zoo   (224, 224, 3)
                       weight files
``XNORNet``            Rastegari et al. ECCV 2016 (XNOR-Net), AlexNet   (224, 224, 3)
``QuickNet``           Bannink et al. MLSys 2021 (LCE), also ``Small``   (224, 224, 3)
                       and ``Large``; loads Larq Zoo weight files
``ReActNetA``          Liu et al. ECCV 2020 (ReActNet-A, MobileNetV1)    (224, 224, 3)
``ReActNetResNet18``   ReActNet on the Bi-Real Net-18 backbone          (224, 224, 3)
``BNext``              Guo et al. arXiv:2211.12933, ``BNextT/S/M/L``     (224, 224, 3)
=====================  ===============================================  ==================
"""

from kbnn.models.binarynet import BinaryNetCNN, BinaryNetMLP
from kbnn.models.bnext import BNext, BNextL, BNextM, BNextS, BNextT
from kbnn.models.quicknet import QuickNet, QuickNetLarge, QuickNetSmall
from kbnn.models.reactnet import ReActNetA, ReActNetResNet18
from kbnn.models.resnets import BiRealNet18, RealToBinaryNet, RealToBinaryNet18
from kbnn.models.xnornet import XNORNet

__all__ = [
    "BinaryNetMLP",
    "BinaryNetCNN",
    "BiRealNet18",
    "RealToBinaryNet18",
    "RealToBinaryNet",
    "XNORNet",
    "QuickNet",
    "QuickNetSmall",
    "QuickNetLarge",
    "ReActNetA",
    "ReActNetResNet18",
    "BNext",
    "BNextT",
    "BNextS",
    "BNextM",
    "BNextL",
]
