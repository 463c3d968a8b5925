"""Dashboard helpers shared by the pages: services, session keys, error display. Streamlit lives here and in pages/ only."""
