"""The Wizard's 'On your earlier datasets': what won on the workspace's other datasets of this kind."""
from __future__ import annotations

import streamlit as st

from resnet_core.views.earlier_view import finding_lines, wizard_earlier
from ui.shared import services


def earlier_panel(dataset: str | None, num_images: int, num_classes: int, rec) -> None:
    svc = services()
    earlier = wizard_earlier(dataset, num_images, num_classes, svc.workspace, svc.store, rec)
    if not earlier["findings"]:
        return
    with st.container(border=True, key="wizard_earlier"):
        st.markdown("**On your earlier datasets**")
        st.markdown(earlier["summary"])
        st.markdown("\n".join(f"- {line}" for line in finding_lines(earlier)))
        st.caption("Datasets count when they are alike to this one: the same size band, about as many classes, "
                   "images of about the same size and the same colours. Full runs and studies are judged on "
                   "test accuracy, races on validation loss.")
