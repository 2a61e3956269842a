"""Region methods. Each plugs into the Generator interface and the Region type; none reaches into model internals."""
