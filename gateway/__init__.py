"""scenelink: a live video and location gateway for 999 control rooms."""

import os as _os

# OpenCV's decoders refuse images above this many pixels (its own default is 2**30, about 4 GB
# of memory for one colour image). It is read once, when cv2 is first imported, which happens
# only below this package: set it here, before any of its modules imports cv2. The largest
# image the gateway decodes is a caller's still, at most 2048 pixels a side.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(2048 * 2048))
