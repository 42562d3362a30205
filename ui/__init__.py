"""Streamlit rendering helpers shared by the dashboard's pages (no decisions here)."""
