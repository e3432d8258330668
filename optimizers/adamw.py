"""AdamW: Adam with weight decay applied to the weights, not added to the gradient."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .adam import Adam

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = ["AdamW"]


class AdamW(Adam):
    r"""AdamW: Adam whose weight decay shrinks the weights directly instead of entering the moments.

    Same update as :class:`~optimizers.adam.Adam` (see there for the full equations and state), with
    the weight decay step taken first and outside the adaptive scaling:

    .. math::
        \theta_{t-1} &\leftarrow (1 - \gamma\lambda)\, \theta_{t-1} \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
            \frac{m_t}{\sqrt{\hat v_t / (1 - \beta_2^t)} + \epsilon}

    With L2 regularisation inside Adam the penalty gradient :math:`\lambda\theta` is divided by
    :math:`\sqrt{\hat v}` like any gradient, so weights with large gradients are barely decayed;
    decoupling removes that interaction.

    Paper: Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019).

    Conventions:
        * The paper writes :math:`\theta \leftarrow \theta - \eta_t(\alpha\,\text{adam step} +
          \lambda\theta)` with a schedule multiplier :math:`\eta_t` and no :math:`\alpha` on the decay.
          Torch, tf.keras and this class multiply the decay by the learning rate,
          :math:`(1 - \gamma\lambda)`, so the decay strength changes when ``lr`` does.
        * Defaults: torch ``weight_decay=1e-2, eps=1e-8``; tf.keras ``weight_decay=0.004,
          epsilon=1e-7`` (and Keras' epsilon-hat form, see :class:`~optimizers.adam.Adam`).

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`.
        eps: :math:`\epsilon \ge 0`, added to the denominator.
        weight_decay: decoupled decay :math:`\lambda \ge 0`; each step multiplies the weights by
            :math:`1 - \gamma\lambda`.
        amsgrad: normalise by the running maximum of the second moment.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
            foreach=foreach,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # an AdamW stays decoupled whatever state it is given
            group["decoupled_weight_decay"] = True
