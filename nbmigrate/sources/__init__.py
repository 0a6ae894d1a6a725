"""Where migrations come from: files in a directory, SQL text, templates."""
