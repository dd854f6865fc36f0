"""ConvolutionKernel: one stored form, one display text, one comparison.

Siemens writes two values for an iterative reconstruction, the kernel and the ADMIRE or SAFIRE
strength (['Br40d', '3'], stored as "Br40d\\3"). Pasted into a single-valued attribute such as
SeriesDescription, the backslash makes it several values and the file invalid. So:

- stored form (`kernel_of`, SeriesRef.kernel, VolumeMeta.kernel, the model file): the values,
  stripped of padding, joined by '\\' as DICOM itself joins them; lossless.
- display text (`kernel_text`): the values joined by '/', "Br40d/3". One token, so that a sentence
  "from Br40d/3 to Br64d/3" stays unambiguous and a description shortened at a word boundary
  never separates a kernel from its strength; '/' is allowed in every text VR, '\\' is not.
- identity (`same_kernel`): every value, ignoring case and padding. The strength is part of the
  kernel: ADMIRE 2 and 3 of one kernel differ in noise and texture, as two kernels do.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

DICOM_SEPARATOR = "\\"
DISPLAY_SEPARATOR = "/"


def kernel_values(kernel: object) -> tuple[str, ...]:
    """The kernel's values, stripped, without empty ones.

    Args:
        kernel: a stored kernel ("Br40d\\3"), a pydicom value (str or MultiValue), a sequence of
            values, or None.

    Returns:
        E.g. ("Br40d", "3"); () when unknown.
    """
    if kernel is None:
        return ()
    if isinstance(kernel, MultiValue | list | tuple):
        parts = [str(v) for v in kernel]
    else:
        parts = str(kernel).split(DICOM_SEPARATOR)
    return tuple(p.strip() for p in parts if p.strip())


def kernel_of(ds: Dataset) -> str:
    """A dataset's ConvolutionKernel in the stored form: "Br40d\\3", "" when absent."""
    return DICOM_SEPARATOR.join(kernel_values(ds.get("ConvolutionKernel")))


def kernel_text(kernel: object) -> str:
    """The kernel for people (descriptions, logs, tables): "Br40d/3"; "" when unknown."""
    return DISPLAY_SEPARATOR.join(kernel_values(kernel))


def kernel_key(kernel: object) -> tuple[str, ...]:
    """What identifies a kernel: its values, upper case (vendors' tools differ in case and padding)."""
    return tuple(v.upper() for v in kernel_values(kernel))


def same_kernel(a: object, b: object) -> bool:
    """Whether two kernels are the same, strength included ("BR40D \\3" is "Br40d\\3", not "Br40d\\2")."""
    return kernel_key(a) == kernel_key(b)
