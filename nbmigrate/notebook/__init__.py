"""The notebook faces: magics, results, the dashboard, the bridge loop."""
