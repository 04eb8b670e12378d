"""The readable report's headings and short texts in the four languages of the letters.

Kept here as a small table rather than gettext catalogues: about thirty strings, reviewed together.
The names of systems, tables, fields and enumeration values are in `labels.yaml` (`labels`).
"""

from __future__ import annotations

LANGUAGES = ("et", "lv", "ru", "en")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your personal data — readable report",
        "intro": "This report shows, system by system, the personal data we hold about you. The same data in "
                 "machine-readable form is in the folder export/ of this package, and the letter explains why we "
                 "process it.",
        "request": "Request",
        "generated": "Generated",
        "contents": "Contents",
        "systems": "Systems searched",
        "system": "System",
        "status": "Status",
        "records": "Records",
        "complete": "searched completely",
        "failed": "could not be searched completely",
        "no_data": "No personal data about you was found in this system.",
        "incomplete": "This system could not be searched completely: what is shown may be incomplete. We will send "
                      "you the rest.",
        "consumption_title": "Electricity by month",
        "series_note": "Every interval reading is in export/csv/avp/consumption.csv and "
                       "export/parquet/consumption.parquet; here are the totals per calendar month (local time).",
        "metering_point": "Metering point",
        "time_zone": "Time zone",
        "month": "Month",
        "consumption": "Consumption",
        "production": "Production",
        "total": "Total",
        "chart": "Monthly electricity, kWh",
        "readings": "Interval readings",
        "yes": "yes",
        "no": "no",
        "rows_cut": "Only the first {shown} of {total} rows are shown; all of them are in the export.",
        "withheld": "Names of our staff and data about other people are not shown (Art. 15(4) GDPR).",
        "times_note": "Times are local time in the time zone {zone}.",
        "empty": "—",
    },
    "et": {
        "title": "Teie isikuandmed — loetav aruanne",
        "intro": "See aruanne näitab süsteemide kaupa isikuandmeid, mida me teie kohta töötleme. Samad andmed "
                 "masinloetaval kujul on selle paketi kaustas export/; miks me neid töötleme, selgitab kiri.",
        "request": "Taotlus",
        "generated": "Koostatud",
        "contents": "Sisukord",
        "systems": "Läbiotsitud süsteemid",
        "system": "Süsteem",
        "status": "Olek",
        "records": "Kirjeid",
        "complete": "läbi otsitud täielikult",
        "failed": "ei õnnestunud täielikult läbi otsida",
        "no_data": "Selles süsteemis ei leitud teie kohta isikuandmeid.",
        "incomplete": "Seda süsteemi ei õnnestunud täielikult läbi otsida: näidatud andmed võivad olla puudulikud. "
                      "Saadame ülejäänu teile hiljem.",
        "consumption_title": "Elekter kuude kaupa",
        "series_note": "Kõik intervallnäidud on failides export/csv/avp/consumption.csv ja "
                       "export/parquet/consumption.parquet; siin on kalendrikuude summad (kohalik aeg).",
        "metering_point": "Mõõtepunkt",
        "time_zone": "Ajavöönd",
        "month": "Kuu",
        "consumption": "Tarbimine",
        "production": "Tootmine",
        "total": "Kokku",
        "chart": "Elekter kuude kaupa, kWh",
        "readings": "Intervallnäite",
        "yes": "jah",
        "no": "ei",
        "rows_cut": "Näidatud on esimesed {shown} rida {total}-st; kõik on ekspordis olemas.",
        "withheld": "Meie töötajate nimesid ja teiste isikute andmeid ei näidata (isikuandmete kaitse üldmääruse "
                    "art 15 lg 4).",
        "times_note": "Kellaajad on kohaliku aja järgi (ajavöönd {zone}).",
        "empty": "—",
    },
    "lv": {
        "title": "Jūsu personas dati — pārskats",
        "intro": "Šajā pārskatā pa sistēmām parādīti personas dati, ko par jums apstrādājam. Tie paši dati "
                 "mašīnlasāmā veidā ir šīs pakas mapē export/; kāpēc mēs tos apstrādājam, skaidro vēstule.",
        "request": "Pieprasījums",
        "generated": "Sagatavots",
        "contents": "Saturs",
        "systems": "Pārbaudītās sistēmas",
        "system": "Sistēma",
        "status": "Statuss",
        "records": "Ieraksti",
        "complete": "pārbaudīta pilnībā",
        "failed": "neizdevās pārbaudīt pilnībā",
        "no_data": "Šajā sistēmā par jums personas dati netika atrasti.",
        "incomplete": "Šo sistēmu neizdevās pārbaudīt pilnībā: parādītie dati var būt nepilnīgi. Pārējo jums "
                      "nosūtīsim vēlāk.",
        "consumption_title": "Elektroenerģija pa mēnešiem",
        "series_note": "Visi intervālu rādījumi ir failos export/csv/avp/consumption.csv un "
                       "export/parquet/consumption.parquet; šeit ir kalendāra mēnešu kopsummas (vietējais laiks).",
        "metering_point": "Uzskaites punkts",
        "time_zone": "Laika josla",
        "month": "Mēnesis",
        "consumption": "Patēriņš",
        "production": "Ražošana",
        "total": "Kopā",
        "chart": "Elektroenerģija pa mēnešiem, kWh",
        "readings": "Intervālu rādījumi",
        "yes": "jā",
        "no": "nē",
        "rows_cut": "Parādītas pirmās {shown} rindas no {total}; visas ir eksportā.",
        "withheld": "Mūsu darbinieku vārdi un citu personu dati netiek rādīti (VDAR 15. panta 4. punkts).",
        "times_note": "Laiki norādīti vietējā laikā (laika josla {zone}).",
        "empty": "—",
    },
    "ru": {
        "title": "Ваши персональные данные — отчёт",
        "intro": "В этом отчёте по системам показаны персональные данные, которые мы о вас обрабатываем. Те же "
                 "данные в машиночитаемом виде находятся в папке export/ этого пакета; зачем мы их обрабатываем, "
                 "объясняет письмо.",
        "request": "Запрос",
        "generated": "Составлено",
        "contents": "Содержание",
        "systems": "Проверенные системы",
        "system": "Система",
        "status": "Статус",
        "records": "Записей",
        "complete": "проверена полностью",
        "failed": "не удалось проверить полностью",
        "no_data": "В этой системе персональных данных о вас не найдено.",
        "incomplete": "Эту систему не удалось проверить полностью: показанные данные могут быть неполными. "
                      "Остальное мы пришлём позже.",
        "consumption_title": "Электроэнергия по месяцам",
        "series_note": "Все интервальные показания находятся в файлах export/csv/avp/consumption.csv и "
                       "export/parquet/consumption.parquet; здесь приведены суммы по календарным месяцам "
                       "(местное время).",
        "metering_point": "Точка учёта",
        "time_zone": "Часовой пояс",
        "month": "Месяц",
        "consumption": "Потребление",
        "production": "Производство",
        "total": "Итого",
        "chart": "Электроэнергия по месяцам, кВт·ч",
        "readings": "Интервальных показаний",
        "yes": "да",
        "no": "нет",
        "rows_cut": "Показаны первые {shown} строк из {total}; все они есть в экспорте.",
        "withheld": "Имена наших сотрудников и данные других лиц не показаны (ст. 15(4) GDPR).",
        "times_note": "Время указано местное (часовой пояс {zone}).",
        "empty": "—",
    },
}


def strings(language: str) -> dict[str, str]:
    """The strings of `language` (`et`, `lv`, `ru`, `en`; a regional tag such as `et-EE` works too)."""
    base = language.split("-")[0].split("_")[0].lower()
    if base not in STRINGS:
        raise ValueError("report language must be one of et, lv, ru, en")
    return STRINGS[base]
