"""The day simulation (``rtb simulate``): synthetic traffic through the real exchange."""
