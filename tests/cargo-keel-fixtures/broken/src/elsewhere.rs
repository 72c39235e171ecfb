this is not rust {{
