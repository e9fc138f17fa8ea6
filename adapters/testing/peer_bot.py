"""The peer of ``plaza bench peer``: the incident report as a plain python-telegram-bot ``ConversationHandler``.

This is what a town's IT person would otherwise write in an afternoon: PTB's
normal :class:`~telegram.ext.Application` (long polling), one
``ConversationHandler`` with a state per question, state and tickets in
memory (lost on a restart: nothing is durable), the wording written into the
code in Spanish. It asks what Plaza's flow asks (menu, category,
description, photo or skip, address, confirm) and accepts the same answers
(the option's number or its name, ``omitir``, ``sí``/``no``), so both bots
can be fed the same updates. It is not part of Plaza; it exists to be
measured against.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

__all__ = ["CATEGORIES", "build_peer"]

MENU, CATEGORY, DESCRIPTION, PHOTO, PLACE, CONFIRM = range(6)

CATEGORIES = ("Alumbrado público", "Limpieza", "Agua", "Vía pública")
MENU_OPTIONS = ("Avisar de una incidencia", "Pedir cita", "Mis avisos")


def _numbered(options: tuple[str, ...]) -> str:
    return "\n".join(f"{number}. {label}" for number, label in enumerate(options, 1))


def _pick(text: str, options: tuple[str, ...]) -> int | None:
    answer = text.strip().lower()
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return int(answer) - 1
    for index, label in enumerate(options):
        if answer == label.lower():
            return index
    return None


class _Desk:
    """The handlers; tickets are numbered in memory."""

    def __init__(self, town: str) -> None:
        self.town = town
        self.tickets = itertools.count(1)
        self.reports: list[dict[str, Any]] = []

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        await update.message.reply_text(
            f"Hola, soy el asistente del Ayuntamiento de {self.town}. ¿En qué puedo ayudarle?\n"
            + _numbered(MENU_OPTIONS)
        )
        return MENU

    async def menu(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and update.message.text is not None
        if _pick(update.message.text, MENU_OPTIONS) != 0:
            await update.message.reply_text("Solo sé avisar de incidencias. Responda con 1.")
            return MENU
        await update.message.reply_text("¿Qué ha pasado?\n" + _numbered(CATEGORIES))
        return CATEGORY

    async def category(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and update.message.text is not None
        chosen = _pick(update.message.text, CATEGORIES)
        if chosen is None:
            await update.message.reply_text("No le he entendido. Responda con el número.\n" + _numbered(CATEGORIES))
            return CATEGORY
        self._draft(context)["category"] = CATEGORIES[chosen]
        await update.message.reply_text("Cuénteme brevemente qué ocurre.")
        return DESCRIPTION

    async def description(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and update.message.text is not None
        if len(update.message.text.strip()) < 3:
            await update.message.reply_text("Cuénteme un poco más, por favor.")
            return DESCRIPTION
        self._draft(context)["description"] = update.message.text.strip()
        await update.message.reply_text("Si puede, envíe una foto. Si no, escriba «omitir».")
        return PHOTO

    async def photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        if update.message.photo:
            self._draft(context)["photo"] = update.message.photo[-1].file_id
        elif (update.message.text or "").strip().lower() != "omitir":
            await update.message.reply_text("Envíe una foto o escriba «omitir».")
            return PHOTO
        await update.message.reply_text("¿Dónde es? Comparta su ubicación o escriba la dirección.")
        return PLACE

    async def place(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        draft = self._draft(context)
        if update.message.location is not None:
            draft["place"] = f"{update.message.location.latitude},{update.message.location.longitude}"
        else:
            draft["place"] = (update.message.text or "").strip()
        await update.message.reply_text(
            f"¿Lo enviamos?\n{draft['category']}: {draft['description']} ({draft['place']})\nResponda sí o no."
        )
        return CONFIRM

    async def confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and update.message.text is not None
        answer = update.message.text.strip().lower()
        if answer in ("no", "n"):
            await update.message.reply_text("Aviso descartado.")
            return ConversationHandler.END
        if answer not in ("sí", "si", "s", "yes"):
            await update.message.reply_text("Responda sí o no.")
            return CONFIRM
        now = datetime.now(UTC)
        ticket = f"JUN-{now.year}-{next(self.tickets):06d}"
        self.reports.append({**self._draft(context), "ticket": ticket, "at": now})
        await update.message.reply_text(f"Gracias, su aviso es el {ticket}. Le avisaré cuando haya novedades.")
        return ConversationHandler.END

    async def cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        await update.message.reply_text("Cancelado. Escriba cuando quiera.")
        return ConversationHandler.END

    @staticmethod
    def _draft(context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any]:
        assert context.user_data is not None
        draft: dict[str, Any] = context.user_data.setdefault("draft", {})
        return draft


def build_peer(token: str, api_base_url: str, town: str = "Jun") -> Application[Any, Any, Any, Any, Any, Any]:
    """The peer's PTB application for the Bot API at ``api_base_url``; run it with ``updater.start_polling``."""
    desk = _Desk(town)
    text = filters.TEXT & ~filters.COMMAND
    cancel = filters.Regex(r"(?i)^\s*(cancelar|cancel)\s*$")
    conversation: ConversationHandler[Any] = ConversationHandler(
        entry_points=[MessageHandler(text | filters.COMMAND, desk.start)],
        states={
            MENU: [MessageHandler(text & ~cancel, desk.menu)],
            CATEGORY: [MessageHandler(text & ~cancel, desk.category)],
            DESCRIPTION: [MessageHandler(text & ~cancel, desk.description)],
            PHOTO: [MessageHandler((text & ~cancel) | filters.PHOTO, desk.photo)],
            PLACE: [MessageHandler((text & ~cancel) | filters.LOCATION, desk.place)],
            CONFIRM: [MessageHandler(text & ~cancel, desk.confirm)],
        },
        fallbacks=[CommandHandler("cancel", desk.cancel), MessageHandler(cancel, desk.cancel)],
    )
    root = api_base_url.rstrip("/")
    application = ApplicationBuilder().token(token).base_url(f"{root}/bot").base_file_url(f"{root}/file/bot").build()
    application.add_handler(conversation)
    application.bot_data["desk"] = desk
    return application
