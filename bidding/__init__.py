"""The in-process DSP: campaigns, their configuration, and the router that bids for them."""
