// PunchReader: the punches of a range of terminal-local dates, read from the SQLite file
// straight into columns.
//
// A month for 1,000 staff is ~44,000 punches. Through Python's sqlite3 module every cell
// becomes a Python object (seven per row), which costs several times what SQLite needs to
// walk the rows; here SQLite's C API steps through the covering index
// ix_punches_local_date_time (local_date, punched_at, id, staff_id, staff_no, name, source)
// and the values land in flat arrays. Texts that repeat (staff no + name, source) are stored
// once, in small dictionaries, and rows refer to them by index.
//
// The reader has its own connection (read-only by PRAGMA query_only), guarded by a mutex:
// one read at a time per reader, any thread. In WAL mode it reads beside the writer and
// sees the last committed state when the read starts.
//
// This header never includes Python headers; the bindings live in bindings/punches.cpp.
#pragma once

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct sqlite3;

namespace daka {

// The database could not be opened or read, or a stored value is not in the format the
// store writes (text dates 'YYYY-MM-DD', times 'YYYY-MM-DD HH:MM:SS[.ffffff]').
class PunchReadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct PunchColumns {
    std::vector<std::int32_t> day;            // local date, days since 1970-01-01
    std::vector<std::int64_t> punched_at_us;  // UTC, microseconds since 1970-01-01 00:00
    std::vector<std::int64_t> id;             // punches.id
    std::vector<std::int32_t> staff_id;       // -1 where the staff row is gone (NULL)
    std::vector<std::int32_t> person;         // index into people
    std::vector<std::uint8_t> source;         // index into sources
    std::vector<std::pair<std::string, std::string>> people;  // (staff no, name) snapshots
    std::vector<std::string> sources;                          // 'face', 'makeup', ...

    std::size_t size() const { return id.size(); }
};

class PunchReader {
public:
    // Opens an existing database file (never creates one).
    explicit PunchReader(const std::string& path, int busy_timeout_ms = 5000);
    ~PunchReader();
    PunchReader(const PunchReader&) = delete;
    PunchReader& operator=(const PunchReader&) = delete;

    // Punches with first_day <= local date <= last_day (days since 1970-01-01), of one staff
    // member when staff_id >= 0, in (local date, time, id) order.
    PunchColumns read(std::int32_t first_day, std::int32_t last_day, std::int64_t staff_id = -1);

    const std::string& path() const { return path_; }

private:
    std::string path_;
    sqlite3* db_ = nullptr;
    std::mutex mutex_;
};

// Calendar helpers, exposed for tests: proleptic Gregorian, days since 1970-01-01.
std::int32_t days_from_date(int year, int month, int day);
std::string date_text(std::int32_t days);  // 'YYYY-MM-DD'
// 'YYYY-MM-DD' -> days; throws PunchReadError naming `what` on anything else.
std::int32_t parse_date(std::string_view text, const char* what);
// 'YYYY-MM-DD HH:MM:SS' with an optional fraction of 1-6 digits (also 'T' for the space)
// -> microseconds since the epoch; throws PunchReadError naming `what` on anything else.
std::int64_t parse_datetime_us(std::string_view text, const char* what);

}  // namespace daka
