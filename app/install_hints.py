"""What to install when a dependency fails to load: the ImportError or OSError raised while
importing it, turned into one line naming the pip or apt package."""
from __future__ import annotations

import re

# Import name -> what to install when it is missing.
PIP_PACKAGES = {"cv2": "opencv-contrib-python", "mediapipe": "mediapipe==0.10.21", "numpy": "'numpy<2'",
                "onnxruntime": "onnxruntime", "tqdm": "tqdm", "open3d": "open3d-cpu==0.20.0"}
# Shared library (as named in the loader's message) -> Debian/Ubuntu package.
SYSTEM_PACKAGES = {"libusb-1.0": "libusb-1.0-0", "libGL.so": "libgl1", "libEGL": "libegl1",
                   "libX11": "libx11-6", "libudev": "libudev1", "libgomp": "libgomp1",
                   "libglib-2.0": "libglib2.0-0", "libgthread": "libglib2.0-0"}


def describe_import_error(error: BaseException) -> str:
    """Which package to install, from an ImportError / OSError raised while importing a dependency."""
    text = str(error)
    for library, package in SYSTEM_PACKAGES.items():
        if library in text:
            return (f"a system library is missing ({text.split(':')[0].strip()}); "
                    f"install it with `apt-get install {package}`")
    name = (getattr(error, "name", None) or "").split(".")[0]
    if not name:
        match = re.search(r"No module named '([\w]+)", text)
        name = match.group(1) if match else ""
    if name:
        package = PIP_PACKAGES.get(name, name)
        return (f"the Python package '{name}' is missing; install it with `pip install {package}` "
                f"(or `pip install -r requirements.txt`)")
    return f"a dependency failed to load ({text}); reinstall with `pip install -r requirements.txt`"
