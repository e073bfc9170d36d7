"""Built-in example models.

``alexnet`` is the network of the tutorial notebook netcensus grew from (AlexNet adapted to one input
channel and 10 classes, as in Dive into Deep Learning). On a [1, 1, 224, 224] input it has
46,764,746 parameters; the notebook's hand count, 46,756,544, forgot the three Linear biases
(4096 + 4096 + 10 = 8,202).
"""

from __future__ import annotations

from torch import nn

#: The input the notebook used: batch 1, one channel, 224 x 224.
ALEXNET_INPUT = (1, 1, 224, 224)


def alexnet(in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, num_classes),
    )
