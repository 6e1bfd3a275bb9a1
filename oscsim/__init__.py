"""oscsim: train coupled-oscillator image generators, export them to ngspice, measure them."""
