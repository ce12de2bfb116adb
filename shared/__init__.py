"""What every demo uses: device choice, the model catalog and loader, limits, and UI helpers."""
