"""Writes the awkward CSV inputs in this folder (run once; the files are committed).

Each file imitates something real exports do; tests/test_sources_golden.py
says what each must read as, or which file:line:column error it must give.
The 10 MB file is generated at test time, not committed.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent

FILES: dict[str, bytes] = {
    # Windows-1252 (Excel "CSV (semikolonsepareret)" on a Danish PC), detected automatically
    "cp1252_aeoeaa.csv": "Område;Borger;Adresse\r\nOmråde Nord;Søren Ærø;Åboulevarden 3\r\nOmråde Syd;Øjvind Å;"
                         "Møllevej 7 – 1. sal\r\n".encode("cp1252"),
    # UTF-8 with byte-order mark and commas (Excel "CSV UTF-8")
    "utf8_bom_comma.csv": "\ufeffNavn,Telefon,Note\r\nNguyễn Thị Hoa,20 30 40 50,\"Ring først, så bank\"\r\n"
                          "Łukasz Wiśniewski,21 31 41 51,\r\n".encode("utf-8"),
    # Excel "Unicode text": UTF-16 LE with BOM, tab-separated
    "utf16_tab_unicode_text.txt": "\ufeffNavn\tKlasse\r\nÅse Ørnebjærg\t1.A\r\nŞükrü Yılmaz\t2.B\r\n".encode("utf-16-le"),
    # semicolons with quoted newlines (CRLF and LF inside fields); the 3rd record starts on line 6
    "semicolon_quoted_newlines.csv": b'Borger;Adgang;Ydelser\r\n'
                                     b'Anna Hansen;"N\xc3\xb8gleboks\r\nkode 1234";"Bad\nTilsyn"\r\n'
                                     b'Bent Olsen;"Ring p\xc3\xa5";Tilsyn\r\n'
                                     b'Carl Dahl;"""Hund"" i haven;\r\nhold d\xc3\xb8ren lukket";Bad\r\n',
    # written by Danish Excel: dates in several forms, times with . and :, decimal comma
    "excel_dates.csv": b"Dato;Fra;Til;Dosis\r\n"
                       b"31-12-2026;07:30;7.45;1.234,50\r\n"
                       b"2026-12-31 00:00:00;0730;08.00;12,5\r\n"
                       b"31.12.26;7:05;23.59;0,25\r\n"
                       b"1/2/2027;07.30;08.00;2\r\n",
    # trailing empty lines and a line of only delimiters
    "trailing_empty_lines.csv": b"Navn;By\r\nAnna;Esbjerg\r\nBo;Ribe\r\n\r\n;\r\n\r\n\r\n",
    # duplicated and empty header names
    "duplicate_headers.csv": b"Navn;Telefon;Telefon;;Navn\r\nAnna;1;2;x;Anna B\r\n",
    # Excel's "sep=" hint line
    "sep_line_excel.csv": b"sep=,\r\nNavn,By\r\nAnna,Esbjerg\r\n",
    # ragged rows: one short, one long (an unquoted delimiter shifted the values)
    "ragged_rows.csv": b"Navn;By;Telefon\r\nAnna;Esbjerg;1\r\nBo;Ribe\r\nCarl;Varde;3;ekstra\r\nDorthe;Vejen;4;\r\n",
    # a quote opened in line 3, column 2, and never closed
    "unclosed_quote.csv": b"Navn;Note;By\r\nAnna;ok;Esbjerg\r\nBo;\"Hund i haven;Ribe\r\nCarl;ok;Varde\r\n",
    # the header's own quote is never closed: no header can be trusted
    "unclosed_quote_in_header.csv": b'Navn;"By\r\nAnna;Ribe\r\n',
    # declared UTF-8 (encoding = "utf-8") but really Windows-1252: byte 0xF8 (ø) at line 3, column 8
    "declared_utf8_really_cp1252.csv": b"Navn;By\r\nAnna;Ribe\r\nBo;Esbj\xf8rg\r\n",
    "empty.csv": b"",
    "only_blank_lines.csv": b"\r\n\r\n   \r\n",
    "header_only.csv": b"Navn;By;Telefon\r\n",
    # an Excel workbook renamed to .csv
    "workbook_renamed.csv": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(40)),
    # a NUL byte in line 2, column 6 (a binary file or UTF-16 without BOM)
    "nul_byte.csv": b"Navn;By\r\nAnna;\x00Ribe\r\n",
    # classic Mac line endings (CR only)
    "cr_only_newlines.csv": b"Navn;By\rAnna;Esbjerg\rBo;Ribe\r",
    # header with a quoted field holding semicolons; the real delimiter is the comma
    "quoted_delimiter_in_header.csv": b"\"Navn; fulde\",By\r\n\"Hansen; Anna\",Esbjerg\r\n",
    # padded header names
    "padded_header.csv": b"  Navn  ; By\t \r\nAnna;Esbjerg\r\n",
}

if __name__ == "__main__":
    for name, data in FILES.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(FILES)} files to {HERE}")
