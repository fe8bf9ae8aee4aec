// Read a ZKTeco terminal (Daka's 4370 server) with one of the node clients; write what it saw as JSON.
// usage: node read.js node-zklib|zkteco-js HOST PORT OUT.json
// The clients print progress on stdout, so the result goes to a file. Run with TZ=UTC: the clients
// build Dates from the terminal's local fields, and UTC keeps those fields as they are.
'use strict'
const fs = require('fs')

const [client, host, port, out] = process.argv.slice(2)

async function main () {
  const Lib = client === 'node-zklib' ? require('node-zklib') : require('zkteco-js')
  const device = new Lib(host, Number(port), 20000, 5200)
  const started = Date.now()
  await device.createSocket()
  const users = await device.getUsers()
  const usersAt = Date.now()
  const logs = await device.getAttendances()
  const logsAt = Date.now()
  await device.disconnect()
  const closedAt = Date.now()
  const records = logs.data.map(r => client === 'node-zklib'
    ? { uid: r.userSn, userId: r.deviceUserId, time: r.recordTime.toISOString() }
    : { uid: r.sn, userId: r.user_id, time: new Date(r.record_time).toISOString(), verify: r.type })
  fs.writeFileSync(out, JSON.stringify({
    client,
    usersError: users.err ? String(users.err) : null,
    logsError: logs.err ? String(logs.err) : null,
    users: users.data.map(u => ({ uid: u.uid, userId: u.userId, name: u.name, role: u.role })),
    records,
    seconds: { users: (usersAt - started) / 1000, attendance: (logsAt - usersAt) / 1000,
      disconnect: (closedAt - logsAt) / 1000 }
  }))
}

main().then(() => process.exit(0), err => { console.error(err); process.exit(1) })
