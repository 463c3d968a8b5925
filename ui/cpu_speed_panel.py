"""The Wizard's 'Speed on this CPU': measure the cards' batch and larger ones, then smaller images, once
per machine; the recommendation then follows the measurement where it says otherwise (advice/cpu_speed.py)."""
from __future__ import annotations

import streamlit as st

from resnet_core.advice.cpu_probe import measure_cpu_speed
from resnet_core.advice.cpu_speed import describe_speed, save_cpu_speed
from resnet_core.config import MODEL_LABELS
from resnet_core.views.wizard import CpuProbePlan
from ui.shared import friendly_errors, services


def cpu_speed_panel(plan: CpuProbePlan, machine: str) -> None:
    label = MODEL_LABELS[plan.model]
    with st.container(border=True):
        st.markdown("**Speed on this CPU**")
        if plan.measured is None:
            st.caption(f"The cards say a small batch on a CPU, at {plan.card_size} px. Measuring {label} here at "
                       f"batch {plan.card_batch} and larger, then at smaller images, lets the batch and image size "
                       "above follow this machine's real speed. Takes about a minute.")
        else:
            st.caption(f"Measured here ({plan.measured.measured_at or 'earlier'}), {label}, images per second:")
            st.markdown("\n".join(f"- {line}" for line in describe_speed(plan.measured)))
        again = plan.measured is not None
        if st.button("Measure again" if again else "Measure batch and image sizes", key="wizard_cpu_measure",
                     icon=":material/speed:", help="A few real training steps at each size, on random images."):
            bar = st.progress(0.0, text=f"Measuring {label} on this CPU…")
            saved = False
            with friendly_errors("measure this CPU"):
                speed = measure_cpu_speed(plan.model, plan.card_batch, plan.card_size, plan.max_batch, machine,
                                          on_point=lambda done, total: bar.progress(done / total))
                if not speed.rates:
                    raise ValueError("no batch size could be measured (out of memory?); the cards' advice stays")
                save_cpu_speed(services().workspace.root, speed)
                saved = True
            if saved:
                st.rerun()
