"""kbnn: train binarized neural networks in Keras 3 and run them on bitpacked kernels."""

from setuptools import find_packages, setup

# Pinned, mutually compatible ranges (see README "Supported stack").
INSTALL_REQUIRES = [
    "tensorflow-cpu>=2.21,<2.22",
    "keras>=3.10,<4",
    "numpy>=2,<3",
    "absl-py>=2.1,<3",
    "tqdm>=4.66,<5",
]

EXTRAS_REQUIRE = {
    "test": [
        "pytest>=8,<10",
        "scikit-learn>=1.5,<2",
    ],
    "demo": [
        "scikit-learn>=1.5,<2",
    ],
}

setup(
    name="kbnn",
    version="0.1.0",
    description="Binarized neural networks for Keras 3 with bitpacked TFLite kernels",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["kbnn", "kbnn.*"]),
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["kbnn=kbnn.cli:main"]},
    license="Apache-2.0",
)
