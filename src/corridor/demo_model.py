"""The demo company's own company model (a TOML file beside its other files), written
from the generator's parameters so that nothing in the product needs the planted truths.

It is loaded like any company's model: ``corridor configure PROJECT model.toml``.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import demo

# The demo's names in Arabic and Russian (English comes from the generator's descriptions).
TOUCHPOINT_NAMES = {
    "ad_seen": ("رأى إعلانًا", "Увидел рекламу"),
    "website_visit": ("زار الموقع", "Зашёл на сайт"),
    "coverage_check": ("تحقق من تغطية الألياف", "Проверил покрытие"),
    "plan_compare": ("قارن الباقات", "Сравнил тарифы"),
    "store_visit": ("استشار في متجر", "Консультация в салоне"),
    "sales_call": ("مكالمة مع مستشار مبيعات", "Звонок менеджеру продаж"),
    "order_online": ("طلب عبر الإنترنت", "Заказ на сайте"),
    "order_store": ("طلب في متجر", "Заказ в салоне"),
    "order_partner": ("طلب لدى شريك", "Заказ у партнёра"),
    "credit_check": ("فحص ائتماني", "Проверка кредитоспособности"),
    "tv_addon": ("أضاف باقة التلفاز", "Подключил ТВ"),
    "device_insurance": ("تأمين الجهاز", "Страховка устройства"),
    "installation_visit": ("تركيب الخط", "Монтаж линии"),
    "activation": ("تفعيل الخدمة", "Активация услуги"),
    "speed_upgrade": ("رفع السرعة", "Повышение скорости"),
    "first_bill": ("الفاتورة الأولى", "Первый счёт"),
    "app_login": ("دخول إلى التطبيق", "Вход в приложение"),
    "support_hotline": ("خط الدعم", "Горячая линия"),
    "web_chat": ("دردشة على الموقع", "Чат на сайте"),
    "app_support": ("طلب دعم في التطبيق", "Обращение в приложении"),
    "store_support": ("دعم في المتجر", "Поддержка в салоне"),
    "billing_dispute": ("اعتراض على فاتورة", "Спор по счёту"),
    "technician_visit": ("زيارة فني", "Выезд мастера"),
    "loyalty_offer": ("عرض ولاء", "Предложение лояльности"),
    "referral": ("أوصى صديقًا", "Рекомендовал другу"),
    "contract_cancel": ("ألغى العقد", "Расторг договор"),
}
DEPARTMENT_NAMES = {
    "D-MKT": ("التسويق", "Маркетинг"), "D-SAL": ("المبيعات", "Продажи"),
    "D-RET": ("متاجر التجزئة", "Розничные салоны"), "D-DIG": ("الرقمية", "Цифровые каналы"),
    "D-FLD": ("العمليات الميدانية", "Выездная служба"), "D-CC": ("خدمة العملاء", "Служба поддержки"),
    "D-BIL": ("الفوترة", "Биллинг"), "D-RTN": ("الاحتفاظ بالعملاء", "Удержание клиентов"),
}
CHANNEL_NAMES = {
    "store": ("Store", "المتجر", "Салон"), "phone": ("Phone", "الهاتف", "Телефон"),
    "web": ("Web", "الويب", "Сайт"), "app": ("App", "التطبيق", "Приложение"),
    "email": ("E-mail", "البريد الإلكتروني", "Эл. почта"), "partner": ("Partner", "شريك", "Партнёр"),
    "field": ("Field visit", "زيارة ميدانية", "Выезд"),
}
SEGMENT_NAMES = {
    "consumer": ("Consumers", "المستهلكون", "Частные клиенты"),
    "small_business": ("Small business", "الشركات الصغيرة", "Малый бизнес"),
    "enterprise": ("Enterprise", "الشركات الكبرى", "Крупный бизнес"),
    "retail_partner": ("Retail partners", "شركاء التجزئة", "Розничные партнёры"),
}
JOURNEY_NAMES = {
    "purchase": ("Purchase", "الشراء", "Покупка"),
    "support": ("Support case", "طلب دعم", "Обращение в поддержку"),
}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string


def _label(lines: list[str], kind: str, code: str, en: str, ar: str, ru: str) -> None:
    lines.append(f"[labels.{kind}.{_q(code)}]")
    lines += [f"en = {_q(en)}", f"ar = {_q(ar)}", f"ru = {_q(ru)}", ""]


def demo_model_text() -> str:
    opens, closes = demo.OPEN_HOURS
    install_wait_days = 2 * demo.WAIT_MEAN_DAYS  # twice the usual wait is a bad one
    # a repair later than the longest booking window (plus the day of the appointment)
    repair_wait_days = max(demo.TECH_DAYS[1], demo.REVISIT_DAYS[1]) + 1
    lines = [
        "# The demo company's model, written by corridor demo from its generator.",
        'currency = "EUR"',
        'timezone = "UTC"',
        "",
        "[[journeys]]",
        'name = "purchase"',
        'kind = "purchase"',
        'start_stages = ["need", "evaluation", "purchase"]',
        f"goal = [{_q(demo.GOAL)}]",
        "",
        "[[journeys]]",
        'name = "support"',
        'kind = "service"',
        'start_stages = ["support"]',
        "# no goal: a support case is resolved when its last contact succeeded",
        "",
        "[service_hours]",
        f'phone = "{opens:02d}:00-{closes:02d}:00"',
        f'store = "{demo.STORE_HOURS[0]:02d}:00-{demo.STORE_HOURS[1]:02d}:00"',
        "",
        "[waits]",
        'default = "15min"',
        f'installation_visit = "{install_wait_days:g}d"',
        f'technician_visit = "{repair_wait_days:g}d"',
        "",
        "[bad_experience]",
        "nps_below = 7",
        "csat_below = 3",
        "ces_below = 4",
        'failed_outcomes = ["failed"]',
        "long_wait = true",
        "",
    ]
    for tp in demo.TOUCHPOINTS:
        ar, ru = TOUCHPOINT_NAMES[tp[0]]
        _label(lines, "touchpoints", tp[0], tp[7], ar, ru)
    for code, name in demo.DEPARTMENTS:
        ar, ru = DEPARTMENT_NAMES[code]
        _label(lines, "departments", code, name, ar, ru)
    for code, (en, ar, ru) in CHANNEL_NAMES.items():
        _label(lines, "channels", code, en, ar, ru)
    for code, (en, ar, ru) in SEGMENT_NAMES.items():
        _label(lines, "segments", code, en, ar, ru)
    for code, (en, ar, ru) in JOURNEY_NAMES.items():
        _label(lines, "journeys", code, en, ar, ru)
    return "\n".join(lines)


def write_demo_model(path: Path) -> Path:
    path.write_text(demo_model_text(), encoding="utf-8")
    return path
