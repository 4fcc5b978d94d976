"""What people review: HTML batch and model reports, SVG figures, model cards, scored-proposal files."""
