"""Entry point: `streamlit run app.py`. Names the pages and their order in the sidebar."""

import streamlit as st

from ui.frame import HOME, PAGES

home = st.Page(HOME, title="Home", icon=":material/home:", default=True)
pages = [st.Page(path, title=title, icon=icon, url_path=title) for path, title, icon, _ in PAGES]
st.navigation([home, *pages]).run()
