"""Entry point: `streamlit run app.py`. Names the pages and their order in the sidebar."""

import streamlit as st

from ui.frame import HOME, PAGES, use_one_blas_thread

use_one_blas_thread()

# No icons: Streamlit would fetch a Material icon as the browser tab's icon from a font server (ui/frame.py).
home = st.Page(HOME, title="Home", default=True)
pages = [st.Page(path, title=title, url_path=title) for path, title, _, _ in PAGES]
st.navigation([home, *pages]).run()
