"""Low-level tensor operations shared by every model: FIR resampling, bias + activation, mask resizing."""
