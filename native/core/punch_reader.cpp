#include "punch_reader.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <unordered_map>

namespace daka {
namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

// n decimal digits at text[at..], or -1.
int digits(std::string_view text, std::size_t at, std::size_t n) {
    if (at + n > text.size()) return -1;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        const char c = text[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

[[noreturn]] void bad_value(const char* what, std::string_view text, const char* expected) {
    throw PunchReadError(std::string(what) + " '" + std::string(text.substr(0, 64)) + "' is not " + expected);
}

// The date part of a 'YYYY-MM-DD...' text, checked; days since the epoch.
std::int32_t date_part(std::string_view text, const char* what, const char* expected) {
    const int y = digits(text, 0, 4), m = digits(text, 5, 2), d = digits(text, 8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1 || text[4] != '-' || text[7] != '-' || d > days_in_month(y, m)) {
        bad_value(what, text, expected);
    }
    return days_from_date(y, m, d);
}

std::string_view column_text(sqlite3_stmt* st, int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st, col))) : std::string_view();
}

struct Statement {
    sqlite3_stmt* st = nullptr;
    ~Statement() { sqlite3_finalize(st); }
};

}  // namespace

std::int32_t days_from_date(int year, int month, int day) {
    // Days before March 1st of year 0 are counted in 400-year eras of 146,097 days.
    const std::int64_t y = year - (month <= 2);
    const std::int64_t era = floor_div(y, 400);
    const std::int64_t year_of_era = y - era * 400;
    const std::int64_t day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return static_cast<std::int32_t>(era * 146097 + day_of_era - 719468);
}

std::string date_text(std::int32_t days) {
    const std::int64_t z = static_cast<std::int64_t>(days) + 719468;
    const std::int64_t era = floor_div(z, 146097);
    const std::int64_t day_of_era = z - era * 146097;
    const std::int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::int64_t mp = (5 * day_of_year + 2) / 153;
    const int d = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
    const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    const std::int64_t y = year_of_era + era * 400 + (m <= 2);
    if (y < 0 || y > 9999) throw PunchReadError("a date outside the years 0-9999");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", static_cast<int>(y), m, d);
    return buf;
}

std::int32_t parse_date(std::string_view text, const char* what) {
    if (text.size() != 10) bad_value(what, text, "a date YYYY-MM-DD");
    return date_part(text, what, "a date YYYY-MM-DD");
}

std::int64_t parse_datetime_us(std::string_view text, const char* what) {
    static const char* expected = "a time YYYY-MM-DD HH:MM:SS[.ffffff]";
    if (text.size() < 19 || (text[10] != ' ' && text[10] != 'T') || text[13] != ':' || text[16] != ':') {
        bad_value(what, text, expected);
    }
    const std::int32_t days = date_part(text, what, expected);
    const int hh = digits(text, 11, 2), mm = digits(text, 14, 2), ss = digits(text, 17, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59) bad_value(what, text, expected);
    std::int64_t micros = 0;
    if (text.size() > 19) {
        const std::size_t n = text.size() - 20;
        if (text[19] != '.' || n < 1 || n > 6) bad_value(what, text, expected);
        const int frac = digits(text, 20, n);
        if (frac < 0) bad_value(what, text, expected);
        micros = frac;
        for (std::size_t i = n; i < 6; ++i) micros *= 10;
    }
    return ((static_cast<std::int64_t>(days) * 24 + hh) * 60 + mm) * 60'000'000LL + ss * 1'000'000LL + micros;
}

PunchReader::PunchReader(const std::string& path, int busy_timeout_ms) : path_(path) {
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw PunchReadError("cannot open the database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    char* err = nullptr;
    if (sqlite3_exec(db_, "PRAGMA query_only = 1", nullptr, nullptr, &err) != SQLITE_OK) {
        const std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        sqlite3_close(db_);
        db_ = nullptr;
        throw PunchReadError("cannot read the database " + path + ": " + msg);
    }
}

PunchReader::~PunchReader() { sqlite3_close(db_); }

PunchColumns PunchReader::read(std::int32_t first_day, std::int32_t last_day, std::int64_t staff_id) {
    if (last_day < first_day) throw std::invalid_argument("the range ends before it starts");
    const std::string first = date_text(first_day), last = date_text(last_day);
    std::string sql =
        "SELECT local_date, punched_at, id, staff_id, staff_no, name, source FROM punches "
        "WHERE local_date >= ?1 AND local_date <= ?2";
    if (staff_id >= 0) sql += " AND staff_id = ?3";
    sql += " ORDER BY local_date, punched_at, id";

    std::lock_guard<std::mutex> lock(mutex_);
    auto fail = [this](const char* doing) {
        throw PunchReadError(std::string(doing) + " " + path_ + ": " + sqlite3_errmsg(db_));
    };
    Statement q;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &q.st, nullptr) != SQLITE_OK) fail("cannot query");
    sqlite3_bind_text(q.st, 1, first.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q.st, 2, last.c_str(), -1, SQLITE_TRANSIENT);
    if (staff_id >= 0) sqlite3_bind_int64(q.st, 3, staff_id);

    PunchColumns out;
    std::unordered_map<std::string, std::int32_t> people;  // staff no '\0' name -> index
    std::unordered_map<std::string, std::uint8_t> sources;
    std::string key;
    int rc;
    while ((rc = sqlite3_step(q.st)) == SQLITE_ROW) {
        out.day.push_back(parse_date(column_text(q.st, 0), "local_date"));
        out.punched_at_us.push_back(parse_datetime_us(column_text(q.st, 1), "punched_at"));
        out.id.push_back(sqlite3_column_int64(q.st, 2));
        out.staff_id.push_back(sqlite3_column_type(q.st, 3) == SQLITE_NULL
                                   ? -1 : static_cast<std::int32_t>(sqlite3_column_int64(q.st, 3)));
        const std::string_view no = column_text(q.st, 4), name = column_text(q.st, 5);
        key.assign(no).push_back('\0');
        key.append(name);
        auto person = people.find(key);
        if (person == people.end()) {
            person = people.emplace(key, static_cast<std::int32_t>(out.people.size())).first;
            out.people.emplace_back(std::string(no), std::string(name));
        }
        out.person.push_back(person->second);
        const std::string src(column_text(q.st, 6));
        auto s = sources.find(src);
        if (s == sources.end()) {
            if (out.sources.size() == 255) throw PunchReadError("more than 255 distinct punch sources");
            s = sources.emplace(src, static_cast<std::uint8_t>(out.sources.size())).first;
            out.sources.push_back(src);
        }
        out.source.push_back(s->second);
    }
    if (rc != SQLITE_DONE) fail("cannot read the punches of");
    return out;
}

}  // namespace daka
